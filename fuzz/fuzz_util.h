// Helpers shared by the fuzz targets (fuzz/*_fuzz.cpp).
//  - expect_rcc_errors(f): runs f; an rcc::Error is the expected refusal of bad input, any other
//    exception is a finding (reported with its type and message, then abort(), which libFuzzer
//    records as a crash with the input that caused it).
//  - FuzzDir: a per-process scratch directory for readers that take a path (they map the file):
//    each input is written there, under a fixed name, and the reader opens it. Removed at exit.
//    In memory (/dev/shm) where there is one: on a disk, rewriting a file thousands of times a
//    second makes the file system write each version out (ext4 flushes a file truncated and
//    rewritten), which caps a target at a few hundred inputs a second. RCC_FUZZ_TMPDIR, else
//    TMPDIR, chooses another place.
//  - with_checksum: the bytes of an rcc container (io/container.h) with the trailing XXH64 of the
//    body appended, so that mutated inputs get past the checksum to the header and payload checks.
#pragma once
#include <cxxabi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/error.h"
#include "core/hash.h"

namespace rcc::fuzz {

[[noreturn]] inline void finding(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs f(); returns true when it finished, false when it threw rcc::Error.
template <class F>
bool expect_rcc_errors(const char* target, F&& f) {
  try {
    f();
    return true;
  } catch (const Error&) {
    return false;
  } catch (const std::exception& e) {
    int status = 0;
    char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    const std::string name = status == 0 && type ? type : typeid(e).name();
    std::free(type);
    finding(target, "an exception other than rcc::Error: " + name + ": " + e.what());
  } catch (...) {
    finding(target, "an exception that is not a std::exception");
  }
}

// Checked in the harness itself: a violated invariant of a parsed object.
#define FUZZ_REQUIRE(target, cond, what)                                                 \
  do {                                                                                   \
    if (!(cond)) ::rcc::fuzz::finding(target, std::string("invariant failed: ") + what); \
  } while (0)

class FuzzDir {
 public:
  explicit FuzzDir(const std::string& target) {
    path_ = base() + "/rcc-fuzz-" + target + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
    instance() = this;
    std::atexit([] {
      if (instance()) {
        std::error_code ec;
        std::filesystem::remove_all(instance()->path_, ec);
      }
    });
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `bytes` to file(name) (replacing it) and returns its path.
  std::string write(const std::string& name, std::string_view bytes) const {
    const std::string p = file(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.close();
    if (!out) finding("FuzzDir", "cannot write " + p);
    return p;
  }
  static std::string base() {
    const char* dir = std::getenv("RCC_FUZZ_TMPDIR");
    if (dir && *dir) return dir;
    if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
    const char* tmp = std::getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
  }
  // Removes every file in the directory (inputs that write several files).
  void clear() const {
    for (const auto& e : std::filesystem::directory_iterator(path_))
      std::filesystem::remove_all(e.path());
  }

 private:
  static FuzzDir*& instance() {
    static FuzzDir* p = nullptr;
    return p;
  }
  std::string path_;
};

inline std::string with_checksum(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  const uint64_t sum = xxh64(data, size);
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(sum >> (8 * i)));
  return s;
}

}  // namespace rcc::fuzz
