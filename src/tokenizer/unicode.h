// Unicode character data for the tokenizer. Properties come from libraries: general categories
// and normalization from utf8proc, the regex `\w` class from PCRE2. The one table here,
// unicode_delta.inc, is generated from Hugging Face itself (tests/reference/make_unicode_delta.py):
// the letters and numbers of Unicode versions newer than the installed utf8proc knows.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/utf8.h"

namespace rcc::tok {

// The classes the GPT-2 split pattern distinguishes.
enum CharClass : uint8_t {
  kLetter = 1,  // \p{L}: Lu Ll Lt Lm Lo
  kNumber = 2,  // \p{N}: Nd Nl No
  kSpace = 3,   // \s: the White_Space property
  kOther = 4,   // everything else: [^\s\p{L}\p{N}]
};

// Class of a code point, as Hugging Face's GPT-2 split sees it. White_Space is Zs, Zl, Zp plus
// U+0009..U+000D and U+0085 (PropList.txt; stable since Unicode 6.3); letters and numbers come
// from utf8proc's general category, and for code points utf8proc calls unassigned, from the
// generated table of newer Unicode letters and numbers (HF tokenizers 0.23.2 uses Unicode 16.0;
// Debian 12's utf8proc 2.8 has 15.0). Tested on every code point against HF's own classes.
CharClass char_class(char32_t cp);

// Class table for the 128 ASCII bytes, computed from char_class() at start-up (a global, so the
// hot loop does not pay for a function-local static's guard).
extern const std::array<CharClass, 128> kAsciiClasses;

// Class and byte length of the code point at s[i] (s must be valid UTF-8).
inline CharClass class_at(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *len = 1;
    return kAsciiClasses[c];
  }
  return char_class(utf8::decode(reinterpret_cast<const unsigned char*>(s.data()) + i, len));
}

// Rust regex's Unicode `\w`: Alphabetic, M, Nd, Pc, Join_Control (evaluated with PCRE2).
bool is_word_char(char32_t cp);

// NFC of valid UTF-8 text. Returns false (and leaves `out` alone) when `in` already is NFC;
// otherwise writes the normalized text to `out`. ASCII runs are never handed to utf8proc: NFC can
// be computed independently on either side of an ASCII character, because ASCII characters are
// starters that never compose with what precedes them.
bool nfc_if_changed(std::string_view in, std::string& out);

// Always returns the NFC form (convenience for tests and tools).
std::string nfc(std::string_view in);

// The NFD form of valid UTF-8 text (tests use it to check canonical equivalence).
std::string nfd(std::string_view in);

}  // namespace rcc::tok
