// libFuzzer target: arbitrary bytes as a text file (core/text_file.h): gunzip on the bytes, and
// read_text_file on a scratch file holding them (through which every text, JSON and JSONL file
// is read: plain, or gzip — one or more members — whatever its name).
// Contract: gunzip and read_text_file either return the text or throw rcc::Error; any other
// exception, a crash, a sanitizer report or a leak is a finding. read_text_file returns the bytes
// unchanged when they do not start with the gzip magic, and what gunzip returns when they do.
#include <cstdint>
#include <string>

#include "core/text_file.h"
#include "fuzz_util.h"

namespace {
constexpr const char* kTarget = "text_file_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("text_file");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string inflated;
  const bool gz = is_gzip(bytes);
  const bool ok =
      gz && fuzz::expect_rcc_errors(kTarget, [&] { inflated = gunzip(bytes, "input"); });
  const std::string path = dir->write("text", bytes);
  std::string text;
  const bool read = fuzz::expect_rcc_errors(kTarget, [&] { text = read_text_file(path); });
  FUZZ_REQUIRE(kTarget, read == (!gz || ok), "read_text_file and gunzip disagree on success");
  if (read)
    FUZZ_REQUIRE(kTarget, text == (gz ? inflated : bytes), "read_text_file returned other text");
  return 0;
}
