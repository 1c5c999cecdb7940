#include "tasks/codec.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "io/atomic_file.h"

namespace rcc {

namespace {
const char* kPunct = ".,?!:;'\"()-";
bool is_split_char(char c) {
  return (c >= '0' && c <= '9') || std::string_view(kPunct).find(c) != std::string_view::npos;
}
}  // namespace

WordVocab::WordVocab(const std::vector<std::string>& words) {
  auto add = [&](const std::string& t) {
    if (ids_.count(t)) return;
    ids_[t] = int32_t(tokens_.size());
    tokens_.push_back(t);
  };
  for (const char* s : {"<eos>", "<pad>", "<unk>"}) add(s);
  for (char c = '0'; c <= '9'; ++c) add(std::string(1, c));
  for (const char* p = kPunct; *p; ++p) add(std::string(1, *p));
  for (const std::string& w : words) {
    RCC_CHECK(!w.empty() && w.find_first_of(" \t\n") == std::string::npos,
              "word vocabulary: bad word '", w, "'");
    add(w);
  }
}

WordVocab WordVocab::load(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  // Compared as JSON values: a "format" or token of another type is refused here, not thrown by
  // nlohmann's conversions as an error that names no file.
  RCC_CHECK(j.is_object() && j.contains("format") && j["format"] == "rcc-words" &&
                j.contains("tokens") && j["tokens"].is_array(),
            path, ": not an rcc word vocabulary ({\"format\": \"rcc-words\", \"tokens\": [...]})");
  std::vector<std::string> tokens;
  for (const nlohmann::json& t : j["tokens"]) {
    RCC_CHECK(t.is_string(), path, ": vocabulary token ", tokens.size(),
              " is not a string: ", json_excerpt(t));
    tokens.push_back(t.get<std::string>());
  }
  WordVocab v({});
  RCC_CHECK(tokens.size() >= v.tokens_.size() &&
                std::equal(v.tokens_.begin(), v.tokens_.end(), tokens.begin()),
            path, ": the vocabulary must start with the fixed specials, digits and punctuation");
  return WordVocab(
      std::vector<std::string>(tokens.begin() + int64_t(v.tokens_.size()), tokens.end()));
}

void WordVocab::save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = "rcc-words";
  j["version"] = 1;
  j["tokens"] = tokens_;
  write_string_atomic(path, j.dump(1) + "\n");
}

std::optional<int32_t> WordVocab::id(const std::string& token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::vector<int32_t> WordVocab::encode(const std::string& text) const {
  std::vector<int32_t> out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    auto it = ids_.find(word);
    out.push_back(it == ids_.end() ? 2 : it->second);
    word.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      flush();
    } else if (is_split_char(c)) {
      flush();
      out.push_back(ids_.at(std::string(1, c)));
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

std::string WordVocab::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (int32_t id : ids) {
    if (id < 0 || id >= int32_t(tokens_.size())) continue;
    if (!s.empty()) s += ' ';
    s += tokens_[size_t(id)];
  }
  return s;
}

std::unique_ptr<TextCodec> load_codec(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path words = fs::path(dir) / "vocab.json", bpe = fs::path(dir) / "tokenizer.json";
  if (fs::exists(words)) return std::make_unique<WordVocab>(WordVocab::load(words.string()));
  if (fs::exists(bpe)) return std::make_unique<BpeCodec>(Tokenizer::load(bpe.string()));
  return nullptr;
}

}  // namespace rcc
