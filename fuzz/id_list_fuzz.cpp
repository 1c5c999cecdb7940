// libFuzzer target: arbitrary bytes as an id file (`rcc compress --input-ids FILE`, `rcc ask
// --context-ids FILE`; read_id_file and read_context_ids of the CLI's tools/inputs.cpp, compiled
// into this target), written to a scratch file and read from its path (plain or gzip, as
// core/text_file.h reads every text file).
// Contract: reading either returns the ids or throws rcc::Error; any other exception, a crash, a
// sanitizer report or a leak is a finding. Ids that are read are non-negative 32-bit integers, and
// read_context_ids returns the same list unless it is empty (then it throws).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "inputs.h"

namespace {
constexpr const char* kTarget = "id_list_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("id_list");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path = dir->write("ids.json", {reinterpret_cast<const char*>(data), size});
  std::vector<int32_t> ids;
  if (!fuzz::expect_rcc_errors(kTarget, [&] { ids = cli::read_id_file(path); })) return 0;
  for (int32_t id : ids) FUZZ_REQUIRE(kTarget, id >= 0, "a negative id");
  std::vector<int32_t> context;
  const bool read = fuzz::expect_rcc_errors(
      kTarget, [&] { context = cli::read_context_ids(path, "--context-ids"); });
  FUZZ_REQUIRE(kTarget, read == !ids.empty() && (!read || context == ids),
               "read_context_ids disagrees with read_id_file");
  return 0;
}
