// Reading what the CLI is given: text files (or '-' for stdin), JSON id files, model tokenizers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rcc::cli {

// Whole file, or stdin for "-" (gzip data is decompressed, core/text_file.h). Errors name the
// path.
std::string read_text(const std::string& path);
// A JSON array of non-negative 32-bit integers.
std::vector<int32_t> read_id_file(const std::string& path);
// The model directory's tokenizer.json, or `explicit_path` when given; nullopt when neither exists.
std::optional<Tokenizer> model_tokenizer(const std::string& model_dir,
                                         const std::optional<std::string>& explicit_path = {});
// Throws when `ids` contains an id outside [0, vocab).
void check_ids(const std::vector<int32_t>& ids, int64_t vocab, const std::string& what);

}  // namespace rcc::cli
