// The data behind rcc::Tokenizer (shared by the loader, the encoder and the decoder).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace rcc {

struct Tokenizer::Impl {
  uint64_t serial = 0;  // unique per load; keys the per-thread word cache

  // Pipeline configuration.
  bool nfc = false;               // normalizer: NFC (else none)
  bool use_regex = true;          // ByteLevel pre-tokenizer: split with the GPT-2 pattern
  bool add_prefix_space = false;  // ByteLevel pre-tokenizer: prefix each piece with ' '

  tok::BpeModel bpe;
  std::vector<tok::AddedToken> added;
  tok::AddedTokenSplitter raw_split;         // added tokens with normalized=false
  tok::AddedTokenSplitter normalized_split;  // added tokens with normalized=true

  // Per id (index = id): the token string as in tokenizer.json, the bytes decode() emits for it,
  // whether it exists and whether it is special.
  std::vector<std::string> tokens;
  std::vector<std::string> decoded;
  std::vector<uint8_t> flags;  // kKnown | kSpecial
  static constexpr uint8_t kKnown = 1, kSpecial = 2;

  std::unordered_map<std::string, int32_t> model_vocab;  // token string -> id (model)
  std::unordered_map<std::string, int32_t> added_vocab;  // content -> id (added tokens)

  // Encodes one piece that contains no added token (steps 3b-4 of the header comment).
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const;
};

// Parses tokenizer.json text into an Impl (tokenizer_load.cpp).
std::shared_ptr<const Tokenizer::Impl> load_tokenizer_impl(std::string_view json,
                                                           const std::string& origin);

}  // namespace rcc
