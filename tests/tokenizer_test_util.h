// Helpers shared by the tokenizer tests (header only: the test build compiles *_test.cpp files).
#pragma once
#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace rcc::test {

inline std::string neox_tokenizer_path() {
  return data("tokenizers/gpt-neox-20b/tokenizer.json.gz");
}

// The GPT-NeoX-20B tokenizer, loaded once per test binary.
inline const Tokenizer& neox() {
  static const Tokenizer t = Tokenizer::load(neox_tokenizer_path());
  return t;
}

// Reads a file, gunzipping it when the name ends in .gz.
inline std::string read_maybe_gz(const std::string& path) {
  if (path.size() < 3 || path.compare(path.size() - 3, 3, ".gz") != 0) return read_file(path);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string out;
  std::vector<char> buf(1 << 16);
  int n;
  while ((n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    out.append(buf.data(), n);
  const bool ok = n == 0;
  gzclose(f);
  if (!ok) throw std::runtime_error("gzip read error in " + path);
  return out;
}

inline std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t p = 0;
  for (;;) {
    size_t e = s.find(sep, p);
    if (e == std::string::npos) {
      out.push_back(s.substr(p));
      return out;
    }
    out.push_back(s.substr(p, e - p));
    p = e + 1;
  }
}

// 256 byte symbols (ids 0..255) + "he" "ll" "hell" "hello" + added "<s>" (special).
inline nlohmann::json tiny_tokenizer_json() {
  using nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[rcc::tok::bytes_to_token(std::string(1, char(b)))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = json::array({{{"id", 260},
                                    {"content", "<s>"},
                                    {"special", true},
                                    {"normalized", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"single_word", false}}});
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"vocab", vocab},
                {"merges", json::array({"h e", "l l", "he ll", "hell o"})}};
  return j;
}

}  // namespace rcc::test
