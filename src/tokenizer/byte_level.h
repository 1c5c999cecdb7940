// GPT-2's byte-level alphabet: every byte maps to one printable code point so that BPE tokens are
// strings. Bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF map to themselves; the other 68 bytes
// map, in order, to U+0100, U+0101, ... (so ' ' becomes U+0120 'Ġ' and '\n' becomes U+010A 'Ċ').
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace rcc::tok {

char32_t byte_to_char(uint8_t b);

// The byte a code point stands for, or -1 when it is not in the alphabet.
int char_to_byte(char32_t cp);

// A token string in the byte-level alphabet -> the raw bytes it stands for. Returns false (and
// leaves out in an unspecified state) when a character is outside the alphabet.
bool token_to_bytes(std::string_view token, std::string& out);

// Raw bytes -> the token string in the byte-level alphabet.
std::string bytes_to_token(std::string_view bytes);

}  // namespace rcc::tok
