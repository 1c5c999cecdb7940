// Reading the normalizer, pre_tokenizer and decoder of a tokenizer.json into Tokenizer::Impl
// (tokenizer_load_pipeline.cpp). Every field that would change the ids or the text is either
// implemented or refused with an rcc::Error naming the file and the field.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/tokenizer_impl.h"

namespace rcc {

// Fills im.normalizers, im.pre_tokenizers, im.bpe.byte_level and the decoder fields.
void read_tokenizer_pipeline(const nlohmann::json& root, const std::string& origin,
                             Tokenizer::Impl& im);

}  // namespace rcc
