#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace rcc::tok {

AddedTokenSplitter::AddedTokenSplitter(std::vector<Pattern> patterns)
    : patterns_(std::move(patterns)) {
  nodes_.emplace_back();
  root_next_.fill(0);
  for (size_t pi = 0; pi < patterns_.size(); ++pi) {
    const std::string& bytes = patterns_[pi].bytes;
    if (bytes.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : bytes) {
      int32_t c = child(node, b);
      if (c == 0) {
        c = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        if (node == 0) {
          root_next_[b] = c;
        } else {
          auto& next = nodes_[node].next;
          next.insert(std::upper_bound(next.begin(), next.end(), std::make_pair(b, int32_t{0})),
                      {b, c});
        }
      }
      node = c;
    }
    // With identical patterns the first one listed wins.
    if (nodes_[node].pattern < 0) nodes_[node].pattern = static_cast<int32_t>(pi);
  }
  two_bytes_.assign(65536 / 64, 0);
  int first_bytes = 0;
  for (int b = 0; b < 256; ++b) {
    if (root_next_[b] == 0) continue;
    ++first_bytes;
    only_first_byte_ = b;
  }
  if (first_bytes != 1) only_first_byte_ = -1;
  for (const Pattern& p : patterns_) {
    if (p.bytes.size() == 1) one_byte_[static_cast<unsigned char>(p.bytes[0])] = true;
    if (p.bytes.size() >= 2) {
      const unsigned pair = (unsigned(static_cast<unsigned char>(p.bytes[0])) << 8) |
                            static_cast<unsigned char>(p.bytes[1]);
      two_bytes_[pair >> 6] |= uint64_t{1} << (pair & 63);
    }
  }
}

int32_t AddedTokenSplitter::child(int32_t node, unsigned char b) const {
  if (node == 0) return root_next_[b];
  const auto& next = nodes_[node].next;
  for (const auto& [byte, c] : next)
    if (byte == b) return c;
  return 0;
}

bool AddedTokenSplitter::find(std::string_view s, size_t from, Match* m) const {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = from; i < n; ++i) {
    if (only_first_byte_ >= 0) {
      const void* hit = std::memchr(p + i, only_first_byte_, n - i);
      if (!hit) return false;
      i = static_cast<size_t>(static_cast<const unsigned char*>(hit) - p);
    } else if (root_next_[p[i]] == 0) {
      continue;
    }
    if (!one_byte_[p[i]]) {  // every pattern starting here has two bytes or more
      if (i + 1 >= n) return false;
      const unsigned pair = (unsigned(p[i]) << 8) | p[i + 1];
      if (!(two_bytes_[pair >> 6] >> (pair & 63) & 1)) continue;
    }
    int32_t node = root_next_[p[i]];
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t j = i + 1;; ++j) {
      if (nodes_[node].pattern >= 0) {
        best = nodes_[node].pattern;
        best_end = j;
      }
      if (j >= n) break;
      node = child(node, p[j]);
      if (node == 0) break;
    }
    if (best >= 0) {
      *m = Match{i, best_end, static_cast<uint32_t>(best)};
      return true;
    }
  }
  return false;
}

bool AddedTokenSplitter::is_single_word(std::string_view s, size_t start, size_t stop) {
  auto cp_at = [&](size_t i) {
    size_t len = 0;
    return utf8::decode(reinterpret_cast<const unsigned char*>(s.data()) + i, &len);
  };
  if (start > 0 && is_word_char(cp_at(utf8::previous_start(s, start)))) return false;
  if (stop < s.size() && is_word_char(cp_at(stop))) return false;
  return true;
}

size_t AddedTokenSplitter::space_run_before(std::string_view s, size_t end) {
  while (end > 0) {
    size_t b = utf8::previous_start(s, end), len = 0;
    if (class_at(s, b, &len) != kSpace) break;
    end = b;
  }
  return end;
}

size_t AddedTokenSplitter::space_run_after(std::string_view s, size_t begin) {
  while (begin < s.size()) {
    size_t len = 0;
    if (class_at(s, begin, &len) != kSpace) break;
    begin += len;
  }
  return begin;
}

}  // namespace rcc::tok
