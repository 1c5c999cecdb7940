// Decoders of tokenizer.json other than a lone ByteLevel (which tokenizer.cpp handles with a
// precomputed byte string per id): Sequence of Replace, ByteFallback, Fuse, Strip, Metaspace and
// ByteLevel, each with the decode_chain of Hugging Face tokenizers (decoders/*.rs).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "tokenizer/pipeline.h"

namespace rcc::tok {

struct DecoderStep {
  enum Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip } kind = kFuse;
  // kReplace: every match of pattern becomes content.
  Pattern pattern;
  std::string content;
  // kMetaspace: the replacement character becomes ' ', except in the first token when the
  // prepend scheme is not "never", where it is dropped.
  char32_t replacement = 0;
  bool drop_in_first = true;
  // kStrip: up to `start` leading and `stop` trailing `strip` characters are removed per token.
  char32_t strip = ' ';
  size_t start = 0, stop = 0;
};

// Runs the steps over the token strings and joins the result (Decoder::decode).
std::string decode_tokens(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens);

}  // namespace rcc::tok
