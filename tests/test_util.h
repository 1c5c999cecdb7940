// Helpers shared by the tests: temporary directories, fixture paths, running the CLI.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rcc::test {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string fixture(const std::string& rel);     // tests/fixtures/<rel>
std::string data(const std::string& rel);        // data/<rel>, the repository's bundled data
std::string read_file(const std::string& path);  // raw bytes
// Text: the file's bytes, decompressed when gzip (rcc::read_text_file, as rcc reads text).
std::string read_text(const std::string& path);
void write_file(const std::string& path, const std::string& content);
// Hostile-file tests: the rcc container (io/container.h) at `src` rewritten to `dst` with its
// header changed by `edit` and, when given, its payload replaced; the checksum is recomputed, so a
// reader gets past it to the header fields.
void rewrite_container(const std::string& src, const std::string& dst, const char magic[8],
                       const std::function<void(nlohmann::json&)>& edit,
                       const std::optional<std::string>& payload = std::nullopt);

struct RunResult {
  int status = -1;  // exit status
  std::string out, err;
};
// Runs `build/rcc <args>` (args are shell-quoted here); stdin from `stdin_text` when non-empty.
RunResult run_rcc(const std::vector<std::string>& args, const std::string& stdin_text = "");

// Max over i of |a-b| / max(|b|, floor) — relative error with a floor for tiny reference values.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b, double floor = 1e-2);
// max |a - b| / max |b| over all elements (NaN counts as infinite error); sizes must agree.
double norm_rel_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace rcc::test
