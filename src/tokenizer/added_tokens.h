// Added tokens (tokenizer.json "added_tokens"): strings matched in the text before the BPE model
// sees it, with Hugging Face's semantics:
//  - matching is leftmost-longest over all patterns of a set, non-overlapping, scanning on from
//    the end of each match (Aho-Corasick MatchKind::LeftmostLongest);
//  - single_word: a match is dropped when a word character (Rust regex \w) touches it on either
//    side;
//  - lstrip / rstrip: the match also swallows the White_Space run before / after it;
//  - tokens with normalized=false are matched on the raw text first; those with normalized=true
//    are matched afterwards on each normalized piece, using their normalized content.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rcc::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

class AddedTokenSplitter {
 public:
  struct Pattern {
    std::string bytes;  // what is matched (the normalized content for normalized tokens)
    int32_t id = -1;
    bool lstrip = false, rstrip = false, single_word = false;
  };

  AddedTokenSplitter() = default;
  explicit AddedTokenSplitter(std::vector<Pattern> patterns);
  bool empty() const { return patterns_.empty(); }

  // Splits s into text pieces and added tokens, in order: on_text(piece) for each non-empty
  // stretch without a token, on_token(id) for each token.
  template <class OnText, class OnToken>
  void split(std::string_view s, OnText&& on_text, OnToken&& on_token) const {
    if (patterns_.empty()) {
      if (!s.empty()) on_text(s);
      return;
    }
    size_t start_offset = 0, from = 0;
    Match m;
    while (find(s, from, &m)) {
      from = m.end;  // the search goes on from the match itself, not from a stripped end
      size_t start = m.begin, stop = m.end;
      const Pattern& p = patterns_[m.pattern];
      if (p.single_word && !is_single_word(s, start, stop)) continue;
      if (p.lstrip) start = std::max(space_run_before(s, start), start_offset);
      if (p.rstrip) stop = space_run_after(s, stop);
      if (start_offset < start) on_text(s.substr(start_offset, start - start_offset));
      on_token(p.id);
      start_offset = stop;
    }
    if (start_offset < s.size()) on_text(s.substr(start_offset));
  }

 private:
  struct Match {
    size_t begin = 0, end = 0;
    uint32_t pattern = 0;
  };
  struct Node {
    int32_t pattern = -1;                                 // pattern ending here, or -1
    std::vector<std::pair<unsigned char, int32_t>> next;  // sorted by byte
  };

  bool find(std::string_view s, size_t from, Match* m) const;
  int32_t child(int32_t node, unsigned char b) const;
  static bool is_single_word(std::string_view s, size_t start, size_t stop);
  static size_t space_run_before(std::string_view s, size_t end);   // start of the run ending there
  static size_t space_run_after(std::string_view s, size_t begin);  // end of the run starting there

  std::vector<Pattern> patterns_;
  std::vector<Node> nodes_;               // a byte trie; node 0 is the root
  std::array<int32_t, 256> root_next_{};  // root transitions (0 = none)
  // Scan filters: a match can start at i only if s[i] begins a pattern and either a one-byte
  // pattern is s[i] or the two bytes s[i], s[i+1] begin a pattern.
  std::array<bool, 256> one_byte_{};
  std::vector<uint64_t> two_bytes_;  // 65536-bit set, indexed by (s[i] << 8) | s[i+1]
  int only_first_byte_ = -1;         // when all patterns start with one byte: memchr for it
};

}  // namespace rcc::tok
