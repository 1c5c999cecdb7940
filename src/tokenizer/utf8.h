// UTF-8 helpers for the tokenizer: validation, lossy repair and code point decoding.
//
// Invalid input is repaired the way Rust's String::from_utf8_lossy and Python's
// bytes.decode("utf-8", "replace") do it: every maximal invalid subpart (Unicode 15, section 3.9,
// "U+FFFD Substitution of Maximal Subparts") becomes one U+FFFD. The byte ranges below are the
// UTF-8 encoding form itself (Table 3-7), not Unicode character data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rcc::tok::utf8 {

// Length of the well-formed sequence starting at p[0..n) (1..4), or 0 when the bytes there do not
// start a well-formed sequence.
size_t sequence_length(const unsigned char* p, size_t n);

// Length of the maximal invalid subpart at p[0..n) (>= 1), for a position where
// sequence_length() returned 0.
size_t invalid_length(const unsigned char* p, size_t n);

// Length of the longest well-formed prefix of s.
size_t valid_prefix(std::string_view s);
inline bool is_valid(std::string_view s) {
  return valid_prefix(s) == s.size();
}

// Appends s to out with every maximal invalid subpart replaced by U+FFFD.
void append_lossy(std::string_view s, std::string& out);
inline std::string to_valid(std::string_view s) {
  std::string out;
  append_lossy(s, out);
  return out;
}

// Decodes the well-formed sequence at p (caller guarantees validity); stores its length in *len.
inline char32_t decode(const unsigned char* p, size_t* len) {
  unsigned char c = p[0];
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c < 0xE0) {
    *len = 2;
    return (char32_t(c & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (c < 0xF0) {
    *len = 3;
    return (char32_t(c & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  *len = 4;
  return (char32_t(c & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
         (p[3] & 0x3F);
}

// Start of the code point that ends at s[end) (end > 0, s valid).
inline size_t previous_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

void append(char32_t cp, std::string& out);

}  // namespace rcc::tok::utf8
