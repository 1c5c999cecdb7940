// libFuzzer target: arbitrary bytes through the GPT-NeoX tokenizer (and the two variant tokenizers
// of the golden set). Checks, besides "no crash, no sanitizer report":
//  - every id is in range and decode(encode(x)) == NFC(x with invalid UTF-8 repaired);
//  - the hand-written GPT-2 split equals the PCRE2 reference on the normalized text, when PCRE2's
//    Unicode tables class every code point of it as rcc does (PCRE2 10.42 has Unicode 14.0, rcc
//    follows Hugging Face's 16.0; tokenizer_unicode_test checks rcc's classes against HF itself);
//  - decoding arbitrary ids (taken from the input bytes) gives valid UTF-8.
// Built and run by scripts/fuzz.sh. Environment: RCC_FUZZ_TOKENIZER (GPT-NeoX tokenizer.json,
// default data/tokenizers/gpt-neox-20b/tokenizer.json.gz), RCC_FUZZ_FIXTURES (default
// tests/fixtures/tokenizer).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace {

struct Tokenizers {
  std::optional<rcc::Tokenizer> neox, prefix, noregex;
};
Tokenizers* g = nullptr;

const char* env_or(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}

[[noreturn]] void die(const char* what, const std::string& input) {
  std::fprintf(stderr, "tokenizer_fuzz: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

pcre2_code* compile_class(const char* pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!c) std::abort();
  return c;
}

// The GPT-2 class PCRE2 gives one code point (the classes of pretokenize_reference.cpp's pattern).
rcc::tok::CharClass pcre2_class(char32_t cp) {
  static pcre2_code* const classes[3] = {compile_class("\\p{L}"), compile_class("\\p{N}"),
                                         compile_class("[\\x{9}-\\x{D}\\x{85}\\p{Z}]")};
  static pcre2_match_data* const md = pcre2_match_data_create(1, nullptr);
  std::string s;
  rcc::tok::utf8::append(cp, s);
  const rcc::tok::CharClass order[3] = {rcc::tok::kLetter, rcc::tok::kNumber, rcc::tok::kSpace};
  for (int k = 0; k < 3; ++k)
    if (pcre2_match(classes[k], reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                    PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, nullptr) > 0)
      return order[k];
  return rcc::tok::kOther;
}

// True when PCRE2 and rcc class every code point of valid UTF-8 `s` alike.
bool pcre2_agrees_on_classes(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const char32_t cp =
        rcc::tok::utf8::decode(reinterpret_cast<const unsigned char*>(s.data()) + i, &len);
    if (cp >= 0x80 && pcre2_class(cp) != rcc::tok::char_class(cp)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g = new Tokenizers;
  const std::string fixtures = env_or("RCC_FUZZ_FIXTURES", "tests/fixtures/tokenizer");
  try {
    g->neox = rcc::Tokenizer::load(
        env_or("RCC_FUZZ_TOKENIZER", "data/tokenizers/gpt-neox-20b/tokenizer.json.gz"));
    g->prefix = rcc::Tokenizer::load(fixtures + "/variant_prefix.json");
    g->noregex = rcc::Tokenizer::load(fixtures + "/variant_noregex.json");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_fuzz: cannot load tokenizers: %s\n", e.what());
    std::exit(1);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const rcc::Tokenizer& neox = *g->neox;

  const std::vector<int32_t> ids = neox.encode(input);
  for (int32_t id : ids)
    if (id < 0 || id >= neox.vocab_size()) die("id out of range", input);
  const std::string normalized = rcc::nfc_normalize(rcc::tok::utf8::to_valid(input));
  if (neox.decode(ids) != normalized) die("decode(encode(x)) != NFC(x)", input);

  std::vector<std::pair<size_t, size_t>> fast;
  rcc::tok::split_gpt2(normalized, [&](size_t b, size_t e) { fast.emplace_back(b, e); });
  if (pcre2_agrees_on_classes(normalized) && fast != rcc::tok::split_gpt2_reference(normalized))
    die("split differs from PCRE2", input);

  for (const rcc::Tokenizer* t : {&*g->prefix, &*g->noregex}) {
    const std::vector<int32_t> v = t->encode(input);
    if (!rcc::tok::utf8::is_valid(t->decode(v, size % 2 == 0))) die("variant decode", input);
  }

  // Arbitrary ids: two bytes each, some negative or past the vocabulary.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 1 < size && raw.size() < 512; i += 2)
    raw.push_back((int32_t(data[i]) << 8 | data[i + 1]) - 4000);
  if (!rcc::tok::utf8::is_valid(neox.decode(raw, size % 3 == 0))) die("decode not UTF-8", input);
  return 0;
}
