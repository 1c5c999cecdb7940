#include "test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/text_file.h"
#include "io/container.h"

namespace rcc::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "rcc-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
// A build-time path, unless the environment names another (tests run from a copied tree, e.g. a
// GPU host that got the binaries built elsewhere).
std::string path_or_env(const char* env, const char* built_in) {
  const char* v = std::getenv(env);
  return v && *v ? std::string(v) : std::string(built_in);
}
}  // namespace

std::string fixture(const std::string& rel) {
  return path_or_env("RCC_FIXTURES_DIR", RCC_FIXTURES_DIR) + "/" + rel;
}
std::string data(const std::string& rel) {
  return path_or_env("RCC_DATA_DIR", RCC_DATA_DIR) + "/" + rel;
}

std::string read_text(const std::string& path) {
  return read_text_file(path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

void rewrite_container(const std::string& src, const std::string& dst, const char magic[8],
                       const std::function<void(nlohmann::json&)>& edit,
                       const std::optional<std::string>& payload) {
  ContainerView v = read_container(src, magic, UINT32_MAX, "container");
  nlohmann::json h = v.header;
  edit(h);
  const std::string body =
      payload ? *payload : std::string(reinterpret_cast<const char*>(v.payload), v.payload_bytes);
  write_container(dst, magic, v.version, h,
                  [&](const auto& out) { out(body.data(), body.size()); });
}

namespace {
std::string quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}
}  // namespace

RunResult run_rcc(const std::vector<std::string>& args, const std::string& stdin_text) {
  TempDir tmp;
  std::string cmd = quote(path_or_env("RCC_BINARY", RCC_BINARY));
  // Appended piecewise: `" " + std::string` trips GCC 12's false -Wrestrict (PR 105651).
  for (const auto& a : args) cmd.append(" ").append(quote(a));
  if (!stdin_text.empty()) {
    write_file(tmp.file("stdin"), stdin_text);
    cmd.append(" < ").append(quote(tmp.file("stdin")));
  } else {
    cmd += " < /dev/null";
  }
  cmd.append(" > ").append(quote(tmp.file("out"))).append(" 2> ").append(quote(tmp.file("err")));
  int rc = std::system(cmd.c_str());
  RunResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = read_file(tmp.file("out"));
  r.err = read_file(tmp.file("err"));
  return r;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b, double floor) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i])) / std::max(std::fabs(double(b[i])), floor);
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

double norm_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double d = std::fabs(double(a[i]) - double(b[i]));
    num = std::isnan(d) ? INFINITY : std::max(num, d);
    den = std::max(den, std::fabs(double(b[i])));
  }
  return num / den;
}

}  // namespace rcc::test
