// BPE on one pre-token: start from one symbol per byte (byte-level models: the ByteLevel
// pre-tokenizer maps every byte to a character) or per code point (SentencePiece-style models such
// as Llama 2), and repeatedly merge the adjacent pair with the lowest rank (the leftmost one among
// equal ranks) until no pair merges. Short words use a scan over a small array; long words use a
// binary heap over a linked list, so the cost stays O(n log n) for pathological inputs.
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
  // Symbols are bytes (true) or code points (false).
  bool byte_level = true;
  // byte_level: the token of each single byte, or -1 when the vocabulary lacks it (GPT-NeoX lacks
  // the bytes that never occur in UTF-8: C0, C1, F5..FF). Otherwise: the token of each ASCII code
  // point (indices < 128), or -1; other code points are looked up in char_ids.
  std::array<int32_t, 256> byte_ids{};
  std::unordered_map<char32_t, int32_t> char_ids;
  // A symbol missing from the vocabulary becomes, as in Hugging Face's BPE::merge_word: with
  // byte_fallback, the <0xNN> tokens of its UTF-8 bytes when all of them exist; else unk_id
  // (consecutive ones fused into one when fuse_unk); else nothing.
  bool byte_fallback = false;
  std::array<int32_t, 256> fallback_ids{};  // the <0xNN> tokens, -1 when missing
  int32_t unk_id = -1;
  bool fuse_unk = false;
  // True when a symbol may be missing from the vocabulary (always for code point symbols).
  bool has_missing_bytes = false;
  // Hugging Face's `ignore_merges`: a word that is itself in the vocabulary is one token.
  bool ignore_merges = false;
  std::unordered_map<std::string, int32_t> word_ids;  // word -> id, only with ignore_merges

  // Appends the ids of `word` (raw bytes, non-empty) to out.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  // Fills sym with the initial symbols of word (at most 2 * word.size()); returns their count.
  size_t initial_symbols(std::string_view word, int32_t* sym) const;
  void encode_small(std::string_view word, std::vector<int32_t>& out) const;
  void encode_large(std::string_view word, std::vector<int32_t>& out) const;
};

}  // namespace rcc::tok
