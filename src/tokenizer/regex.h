// Regular expressions of tokenizer.json (Split pre-tokenizer, Replace normalizer/decoder) with the
// semantics of Hugging Face tokenizers, which runs them with Oniguruma (Ruby syntax). rcc runs them
// with PCRE2 (JIT-compiled) after translating the pattern:
//  - \p{L}, \p{N} (and \P{..} outside a class) become the exact sets Hugging Face uses (Unicode
//    16.0: char_class() of unicode.h, tested on every code point), written as PCRE2's own \p{..}
//    plus the code points the installed PCRE2's older Unicode tables miss;
//  - \s / \S become the White_Space property (PCRE2's \s also matches U+180E);
//  - \w / \W become Oniguruma's word class (Letter, Mark, Decimal_Number, Connector_Punctuation);
//  - \h / \H are Ruby's hex digit classes, \v is U+000B, \uHHHH is \x{HHHH}, x{,n} is x{0,n};
//  - ^ and $ are line anchors, '.' excludes only '\n' (Ruby), as in Oniguruma;
//  - constructs whose meaning differs and that tokenizers do not use are refused (\b, \B, \R, \X,
//    \K, \G, nested classes and class intersections, inline flags other than i, \S or \P{..}
//    inside a class).
// Both engines pick the leftmost match and, among alternatives, the first that succeeds
// (backtracking), so the matches are the same.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rcc::tok {

// The PCRE2 pattern for an Oniguruma pattern; throws rcc::Error naming `field` for constructs it
// refuses.
std::string translate_onig_pattern(std::string_view onig, const std::string& field);

class Regex {
 public:
  // Compiles an Oniguruma pattern (see above); throws rcc::Error naming `field`.
  Regex(std::string_view onig, const std::string& field);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of the successive non-overlapping matches in s (valid
  // UTF-8), as Oniguruma's find_iter yields them (an empty match right after the previous match is
  // skipped and the search moves on by one character).
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

  const std::string& pcre2_pattern() const { return translated_; }

 private:
  std::string translated_;
  void* code_ = nullptr;  // pcre2_code*
  bool jit_ = false;
};

}  // namespace rcc::tok
