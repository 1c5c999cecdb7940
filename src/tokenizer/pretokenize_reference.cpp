#include <memory>

#include "core/error.h"
#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace rcc::tok {

namespace {

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct DataDeleter {
  void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
};

const pcre2_code* gpt2_pattern() {
  static const std::unique_ptr<pcre2_code, CodeDeleter> code = [] {
    const char* pat =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\x{9}-\\x{D}\\x{85}\\p{Z}\\p{L}\\p{N}]+"
        "|[\\x{9}-\\x{D}\\x{85}\\p{Z}]+(?![^\\x{9}-\\x{D}\\x{85}\\p{Z}])|[\\x{9}-\\x{D}\\x{85}\\p{"
        "Z}]+";
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    RCC_CHECK(c != nullptr, "PCRE2 cannot compile the GPT-2 split pattern (error ", err,
              " at offset ", off, ")");
    return std::unique_ptr<pcre2_code, CodeDeleter>(c);
  }();
  return code.get();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> split_gpt2_reference(std::string_view s) {
  std::unique_ptr<pcre2_match_data, DataDeleter> md(
      pcre2_match_data_create_from_pattern(gpt2_pattern(), nullptr));
  RCC_CHECK(md != nullptr, "out of memory (PCRE2 match data)");
  std::vector<std::pair<size_t, size_t>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    int rc = pcre2_match(gpt2_pattern(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, 0,
                         md.get(), nullptr);
    RCC_CHECK(rc > 0, "GPT-2 split pattern found no match at byte ", pos);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    // Every character matches one alternative, so there are no gaps between matches.
    RCC_CHECK(ov[0] == pos && ov[1] > pos, "GPT-2 split pattern left a gap at byte ", pos);
    out.emplace_back(ov[0], ov[1]);
    pos = ov[1];
  }
  return out;
}

}  // namespace rcc::tok
