#include "inputs.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"

namespace rcc::cli {

std::string read_text(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    RCC_CHECK(!std::cin.bad(), "cannot read stdin");
    return is_gzip(ss.str()) ? gunzip(ss.str(), "stdin") : ss.str();
  }
  return read_text_file(path);
}

std::string read_context_text(const std::string& path, const std::string& flag) {
  std::string text = read_text(path);
  RCC_CHECK(!text.empty(), flag, " ", path, ": ", path == "-" ? "stdin " : "",
            "is empty (nothing to compress)");
  return text;
}

std::vector<int32_t> read_context_ids(const std::string& path, const std::string& flag) {
  std::vector<int32_t> ids = read_id_file(path);
  RCC_CHECK(!ids.empty(), flag, " ", path, ": ", path == "-" ? "stdin " : "",
            "is empty (no token ids, nothing to compress)");
  return ids;
}

std::vector<int32_t> read_id_file(const std::string& path) {
  const std::string text = read_text(path);
  const nlohmann::json j = parse_json(text, path + " (a JSON array of token ids)");
  RCC_CHECK(j.is_array(), path, ": expected a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    RCC_CHECK(
        j[i].is_number_integer() && j[i].get<int64_t>() >= 0 && j[i].get<int64_t>() <= INT32_MAX,
        path, ": element ", i, " is not a token id: ", j[i].dump());
    ids.push_back(j[i].get<int32_t>());
  }
  return ids;
}

std::optional<Tokenizer> model_tokenizer(const std::string& model_dir,
                                         const std::optional<std::string>& explicit_path) {
  if (explicit_path) return Tokenizer::load(*explicit_path);
  if (auto p = find_tokenizer(model_dir)) return Tokenizer::load(*p);
  return std::nullopt;
}

void check_ids(const std::vector<int32_t>& ids, int64_t vocab, const std::string& what) {
  for (size_t i = 0; i < ids.size(); ++i)
    RCC_CHECK(ids[i] >= 0 && ids[i] < vocab, what, ": token id ", ids[i], " at index ", i,
              " is outside the vocabulary [0, ", vocab, ")");
}

void check_prompt_length(int64_t tokens, const ModelConfig& cfg, const std::string& what) {
  RCC_CHECK(tokens <= cfg.max_position_embeddings, what, " has ", tokens,
            " tokens, more than the model's max_position_embeddings (", cfg.max_position_embeddings,
            ")");
}

}  // namespace rcc::cli
