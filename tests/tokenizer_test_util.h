// Helpers shared by the tokenizer tests (header only: the test build compiles *_test.cpp files).
#pragma once
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rcc::test {

inline std::string neox_tokenizer_path() {
  return shared("data/tokenizers/gpt-neox-20b/tokenizer.json");
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

}  // namespace rcc::test
