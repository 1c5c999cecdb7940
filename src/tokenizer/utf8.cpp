#include "tokenizer/utf8.h"

#include <cstring>

namespace rcc::tok::utf8 {

namespace {

bool is_cont(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Allowed range of the second byte for a lead byte (Table 3-7); the later bytes are always
// 80..BF. Returns the total sequence length, or 0 for a byte that cannot lead.
int lead_info(unsigned char c, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c == 0xE0) {
    *lo = 0xA0;
    return 3;
  }
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return 3;
  if (c == 0xED) {
    *hi = 0x9F;  // excludes the surrogates D800..DFFF
    return 3;
  }
  if (c == 0xF0) {
    *lo = 0x90;
    return 4;
  }
  if (c >= 0xF1 && c <= 0xF3) return 4;
  if (c == 0xF4) {
    *hi = 0x8F;  // nothing above U+10FFFF
    return 4;
  }
  return 0;
}

// Number of bytes at p that form a (possibly incomplete) prefix of a well-formed sequence.
size_t well_formed_prefix(const unsigned char* p, size_t n, int* total) {
  unsigned char lo, hi;
  *total = lead_info(p[0], &lo, &hi);
  if (*total == 0) return 0;
  size_t k = 1;
  if (k < n && p[k] >= lo && p[k] <= hi) {
    ++k;
    while (k < size_t(*total) && k < n && is_cont(p[k])) ++k;
  }
  return k;
}

}  // namespace

size_t sequence_length(const unsigned char* p, size_t n) {
  if (n == 0) return 0;
  if (p[0] < 0x80) return 1;
  int total = 0;
  size_t k = well_formed_prefix(p, n, &total);
  return (total != 0 && k == size_t(total)) ? k : 0;
}

size_t invalid_length(const unsigned char* p, size_t n) {
  int total = 0;
  size_t k = well_formed_prefix(p, n, &total);
  return k == 0 ? 1 : k;
}

size_t valid_prefix(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = sequence_length(p + i, n - i);
    if (len == 0) return i;
    i += len;
  }
  return n;
}

void append_lossy(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    size_t ok = valid_prefix(s.substr(i));
    out.append(s.data() + i, ok);
    i += ok;
    if (i >= s.size()) break;
    out.append("\xEF\xBF\xBD");  // U+FFFD
    i += invalid_length(p + i, s.size() - i);
  }
}

void append(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace rcc::tok::utf8
