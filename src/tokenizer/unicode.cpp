#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <vector>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace rcc::tok {

namespace {

struct ClassRange {
  char32_t first, last;
  CharClass cls;
};

// Code points utf8proc leaves unassigned that Hugging Face's split treats as letters or numbers
// (its Oniguruma knows a newer Unicode version); sorted, disjoint.
constexpr ClassRange kNewerUnicode[] = {
#include "tokenizer/unicode_delta.inc"
};

// Combining marks that Hugging Face's NFC (older normalization tables) treats as starters: they
// neither reorder with nor let composition pass across them. Sorted.
constexpr char32_t kHfStarterMarks[] = {
#include "tokenizer/unicode_hf_starters.inc"
};

bool is_hf_starter_mark(char32_t cp) {
  return std::binary_search(std::begin(kHfStarterMarks), std::end(kHfStarterMarks), cp);
}

CharClass unassigned_class(char32_t cp) {
  const auto* it = std::upper_bound(std::begin(kNewerUnicode), std::end(kNewerUnicode), cp,
                                    [](char32_t c, const ClassRange& r) { return c < r.first; });
  if (it == std::begin(kNewerUnicode)) return kOther;
  --it;
  return cp <= it->last ? it->cls : kOther;
}

}  // namespace

CharClass char_class(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CN:
      return unassigned_class(cp);
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return kNumber;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return kSpace;
    default:
      // The only White_Space code points outside Z*: the controls TAB..CR and NEL.
      return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 ? kSpace : kOther;
  }
}

const std::array<CharClass, 128> kAsciiClasses = [] {
  std::array<CharClass, 128> t{};
  for (char32_t c = 0; c < 128; ++c) t[c] = char_class(c);
  return t;
}();

namespace {

struct Pcre2Deleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};

const pcre2_code* word_char_pattern() {
  static const std::unique_ptr<pcre2_code, Pcre2Deleter> code = [] {
    const char* pat = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    RCC_CHECK(c != nullptr, "PCRE2 cannot compile the word-character class (error ", err, ")");
    return std::unique_ptr<pcre2_code, Pcre2Deleter>(c);
  }();
  return code.get();
}

}  // namespace

bool is_word_char(char32_t cp) {
  std::string s;
  utf8::append(cp, s);
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  RCC_CHECK(md != nullptr, "out of memory (PCRE2 match data)");
  int rc = pcre2_match(word_char_pattern(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                       PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, nullptr);
  pcre2_match_data_free(md);
  return rc > 0;
}

namespace {

// NFC of one segment through a reusable code point buffer (no allocation in the common case).
void nfc_utf8proc(std::string_view seg, std::string& out) {
  thread_local std::vector<utf8proc_int32_t> buf;
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const auto* src = reinterpret_cast<const utf8proc_uint8_t*>(seg.data());
  if (buf.size() < seg.size() + 8) buf.resize(seg.size() + 8);
  utf8proc_ssize_t n =
      utf8proc_decompose(src, static_cast<utf8proc_ssize_t>(seg.size()), buf.data(),
                         static_cast<utf8proc_ssize_t>(buf.size()), options);
  if (n > static_cast<utf8proc_ssize_t>(buf.size())) {
    buf.resize(static_cast<size_t>(n));
    n = utf8proc_decompose(src, static_cast<utf8proc_ssize_t>(seg.size()), buf.data(),
                           static_cast<utf8proc_ssize_t>(buf.size()), options);
  }
  RCC_CHECK(n >= 0, "NFC normalization failed: ", utf8proc_errmsg(n));
  // utf8proc_reencode composes in place and writes UTF-8 over the same buffer.
  utf8proc_ssize_t bytes = utf8proc_reencode(buf.data(), n, options);
  RCC_CHECK(bytes >= 0, "NFC normalization failed: ", utf8proc_errmsg(bytes));
  out.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(bytes));
}

// NFC as Hugging Face computes it: a mark HF takes for a starter (kHfStarterMarks) cuts the
// segment, because a starter that composes with nothing splits NFC into independent pieces.
void nfc_segment(std::string_view seg, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(seg.data());
  size_t piece = 0;
  for (size_t i = 0; i < seg.size();) {
    size_t len = 1;
    const char32_t cp = p[i] < 0x80 ? p[i] : utf8::decode(p + i, &len);
    if (cp >= kHfStarterMarks[0] && is_hf_starter_mark(cp)) {
      if (i > piece) nfc_utf8proc(seg.substr(piece, i - piece), out);
      out.append(seg.substr(i, len));
      piece = i + len;
    }
    i += len;
  }
  if (piece == 0) return nfc_utf8proc(seg, out);
  if (piece < seg.size()) nfc_utf8proc(seg.substr(piece), out);
}

}  // namespace

bool nfc_if_changed(std::string_view in, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  bool changed = false;
  size_t copied = 0;  // in[0, copied) is already accounted for in `out` (when changed)
  std::string seg_out;
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    // A non-ASCII run [a, b), plus the ASCII character right before it (it may compose with the
    // marks that follow, as in "e" + U+0301).
    size_t a = i;
    while (i < n && p[i] >= 0x80) ++i;
    size_t seg_begin = a > copied ? a - 1 : a;
    std::string_view seg = in.substr(seg_begin, i - seg_begin);
    seg_out.clear();
    nfc_segment(seg, seg_out);
    if (seg_out == seg) continue;
    if (!changed) {
      out.clear();
      changed = true;
    }
    out.append(in.data() + copied, seg_begin - copied);
    out.append(seg_out);
    copied = i;
  }
  if (changed) out.append(in.data() + copied, n - copied);
  return changed;
}

std::string nfc(std::string_view in) {
  std::string out;
  if (!nfc_if_changed(in, out)) out.assign(in);
  return out;
}

std::string nfd(std::string_view in) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   static_cast<utf8proc_ssize_t>(in.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  RCC_CHECK(n >= 0, "NFD normalization failed: ", utf8proc_errmsg(n));
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return r;
}

}  // namespace rcc::tok
