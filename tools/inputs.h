// Reading what the CLI is given: text files (or '-' for stdin), JSON id files, model tokenizers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace rcc::cli {

// Whole file, or stdin for "-" (gzip data is decompressed, core/text_file.h). Errors name the
// path.
std::string read_text(const std::string& path);
// read_text for a context: throws, naming the file and `flag`, when it is empty (an empty context
// would be answered from nothing) or a directory.
std::string read_context_text(const std::string& path, const std::string& flag);
// A JSON array of non-negative 32-bit integers.
std::vector<int32_t> read_id_file(const std::string& path);
// read_id_file for a context: throws, naming the file and `flag`, when the array is empty.
std::vector<int32_t> read_context_ids(const std::string& path, const std::string& flag);
// The model directory's tokenizer.json, or `explicit_path` when given; nullopt when neither exists.
std::optional<Tokenizer> model_tokenizer(const std::string& model_dir,
                                         const std::optional<std::string>& explicit_path = {});
// Throws when `ids` contains an id outside [0, vocab).
void check_ids(const std::vector<int32_t>& ids, int64_t vocab, const std::string& what);
// Throws when a prompt of `tokens` tokens (`what`) is longer than the model's
// max_position_embeddings: positions it was never trained on.
void check_prompt_length(int64_t tokens, const ModelConfig& cfg, const std::string& what);

}  // namespace rcc::cli
