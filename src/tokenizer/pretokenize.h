// The GPT-2 pre-tokenizer split, as a hand-written scanner. It matches what the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// finds with leftmost-first alternation (Oniguruma, as used by Hugging Face tokenizers):
//  1. an apostrophe followed by s, t, re, ve, m, ll or d (lower case only) is a token;
//  2. an optional U+0020 followed by a maximal run of letters, or of numbers, or of "other"
//     characters (neither White_Space nor letter nor number) is a token;
//  3. a White_Space run that reaches the end of the text is a token; a run of two or more followed
//     by a non-space gives up its last character (which may then prefix the next token when it is
//     U+0020); a single White_Space character followed by a non-space is a token.
// split_gpt2_reference() (PCRE2, pretokenize_reference.cpp) runs the regex itself; the tests
// compare both on random text.
#pragma once
#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/unicode.h"

namespace rcc::tok {

// Calls emit(begin, end) for every pre-token of s (valid UTF-8), in order; the pieces cover s.
template <class Emit>
void split_gpt2(std::string_view s, Emit&& emit) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    const char c = s[i];
    if (c == '\'' && i + 1 < n) {  // contractions
      const char d = s[i + 1];
      if (d == 's' || d == 't' || d == 'm' || d == 'd') {
        emit(start, i + 2);
        i += 2;
        continue;
      }
      if (i + 2 < n) {
        const char e = s[i + 2];
        if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
          emit(start, i + 3);
          i += 3;
          continue;
        }
      }
    }
    size_t len = 0;
    CharClass cls = class_at(s, i, &len);
    size_t body = i;  // first character of the letter/number/other run
    if (c == ' ' && i + 1 < n) {
      size_t next_len = 0;
      CharClass next = class_at(s, i + 1, &next_len);
      if (next != kSpace) {
        body = i + 1;
        cls = next;
        len = next_len;
      }
    }
    size_t k = body + len;
    if (cls != kSpace) {
      while (k < n) {
        size_t l = 0;
        if (class_at(s, k, &l) != cls) break;
        k += l;
      }
      emit(start, k);
      i = k;
      continue;
    }
    size_t last = i;  // start of the last White_Space character of the run
    while (k < n) {
      size_t l = 0;
      if (class_at(s, k, &l) != kSpace) break;
      last = k;
      k += l;
    }
    if (k < n && last > i) k = last;  // \s+(?!\S): leave the last space for the next token
    emit(start, k);
    i = k;
  }
}

// The same split computed by PCRE2 from the regex (slow reference for tests). \s is spelled out
// as [\x{9}-\x{D}\x{85}\p{Z}] because PCRE2's own \s differs from White_Space (it adds U+180E).
std::vector<std::pair<size_t, size_t>> split_gpt2_reference(std::string_view s);

}  // namespace rcc::tok
