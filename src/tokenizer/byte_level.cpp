#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace rcc::tok {

namespace {

bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // every alphabet code point is below 256 + 68
};

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    t.to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t c = maps_to_itself(b) ? char32_t(b) : char32_t(256 + extra++);
      t.to_char[b] = c;
      t.to_byte[c] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) {
  return tables().to_char[b];
}

int char_to_byte(char32_t cp) {
  return cp < tables().to_byte.size() ? tables().to_byte[cp] : -1;
}

bool token_to_bytes(std::string_view token, std::string& out) {
  out.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  size_t i = 0;
  while (i < token.size()) {
    size_t len = utf8::sequence_length(p + i, token.size() - i);
    if (len == 0) return false;
    size_t dlen = 0;
    int b = char_to_byte(utf8::decode(p + i, &dlen));
    if (b < 0) return false;
    out += static_cast<char>(b);
    i += len;
  }
  return true;
}

std::string bytes_to_token(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) utf8::append(byte_to_char(b), out);
  return out;
}

}  // namespace rcc::tok
