// The data behind rcc::Tokenizer (shared by the loader, the encoder and the decoder).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/tokenizer.h"

namespace rcc {

namespace tok {
class WordCache;
}

struct Tokenizer::Impl {
  uint64_t serial = 0;  // unique per load; keys the per-thread word cache

  // Pipeline configuration (tokenizer_load_pipeline.cpp).
  std::vector<tok::NormalizerStep> normalizers;  // applied in order; empty: none
  std::vector<tok::PreTokenizerStep> pre_tokenizers;
  // Decoder: a lone ByteLevel uses `decoded` below; otherwise these steps run over the token
  // strings; no decoder at all joins the tokens with ' ' (as Hugging Face does).
  bool has_decoder = true;
  bool byte_level_decoder = true;
  std::vector<tok::DecoderStep> decoders;

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

  // Encodes one normalized piece that contains no added token (pre-tokenizers, then BPE);
  // at_origin: the piece starts at offset 0 of the original text (Metaspace's "first" scheme).
  void encode_piece(std::string_view piece, bool at_origin, std::vector<int32_t>& ids) const;
  // Pre-tokenizer step k and the following ones on one piece.
  void pre_tokenize(size_t k, std::string_view piece, bool at_origin, tok::WordCache& cache,
                    std::vector<int32_t>& ids) const;
  // BPE on one pre-token, through the word cache.
  void encode_word(std::string_view w, tok::WordCache& cache, std::vector<int32_t>& ids) const;
};

// Parses tokenizer.json text into an Impl (tokenizer_load.cpp).
std::shared_ptr<const Tokenizer::Impl> load_tokenizer_impl(std::string_view json,
                                                           const std::string& origin);

}  // namespace rcc
