// Byte-level BPE on one pre-token: start from one symbol per byte and repeatedly merge the adjacent
// pair with the lowest rank (the leftmost one among equal ranks) until no pair merges. Short words
// use a scan over a small array; long words use a binary heap over a linked list, so the cost stays
// O(n log n) for pathological inputs.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/merge_table.h"

namespace rcc::tok {

struct BpeModel {
  MergeTable merges;
  // The token of each single byte, or -1 when the vocabulary lacks it (GPT-NeoX lacks the bytes
  // that never occur in UTF-8: C0, C1, F5..FF). Like Hugging Face, a missing byte becomes
  // unk_id (consecutive ones fused into one when fuse_unk), or is dropped when there is no unk.
  std::array<int32_t, 256> byte_ids{};
  int32_t unk_id = -1;
  bool fuse_unk = false;
  bool has_missing_bytes = false;
  // Hugging Face's `ignore_merges`: a word that is itself in the vocabulary is one token.
  bool ignore_merges = false;
  std::unordered_map<std::string, int32_t> word_ids;  // raw bytes -> id, only with ignore_merges

  // Appends the ids of `word` (raw bytes, non-empty) to out.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  // Fills sym with the initial symbols of word (at most word.size()); returns their count.
  size_t initial_symbols(std::string_view word, int32_t* sym) const;
  void encode_small(std::string_view word, std::vector<int32_t>& out) const;
  void encode_large(std::string_view word, std::vector<int32_t>& out) const;
};

}  // namespace rcc::tok
