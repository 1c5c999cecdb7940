// libFuzzer target: arbitrary bytes as a training state file (state.rcct of a training checkpoint;
// train/train_state.h, load_train_state), checked against the parameter layout of fuzz_model.h
// (two tensors, 3 x 5 and 7 floats), as `rcc train --resume` checks it against its model. The input
// is the file without its trailing XXH64 checksum: the harness appends the checksum of the bytes
// given (fuzz_util.h) so that inputs reach the header and payload checks; the reader opens the
// result from a scratch file. Contract: load_train_state either returns the state or throws
// rcc::Error; any other exception, a crash, a sanitizer report or a leak is a finding. A state that
// loads has non-negative step counts and moments m and v of the layout's size, and saves and loads
// again unchanged.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_model.h"
#include "fuzz_util.h"
#include "train/train_state.h"

namespace {
constexpr const char* kTarget = "train_state_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
rcc::ParamLayout* layout = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("train_state");
  layout = new rcc::ParamLayout(rcc::fuzz::tiny_train_layout());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path = dir->write("state.rcct", fuzz::with_checksum(data, size));
  TrainState s;
  if (!fuzz::expect_rcc_errors(kTarget, [&] { s = load_train_state(path, *layout); })) return 0;
  FUZZ_REQUIRE(kTarget, s.step >= 0 && s.adam_t >= 0, "negative step");
  FUZZ_REQUIRE(kTarget, s.m.numel() == layout->total() && s.v.numel() == layout->total(),
               "moments of another size than the layout");
  const std::string again = dir->file("again.rcct");
  const bool reloaded = fuzz::expect_rcc_errors(kTarget, [&] {
    save_train_state(again, s, *layout);
    const TrainState t = load_train_state(again, *layout);
    FUZZ_REQUIRE(kTarget,
                 t.step == s.step && t.adam_t == s.adam_t && t.rng == s.rng &&
                     t.tokens == s.tokens && t.seconds == s.seconds &&
                     std::memcmp(t.m.raw(), s.m.raw(), s.m.nbytes()) == 0 &&
                     std::memcmp(t.v.raw(), s.v.raw(), s.v.nbytes()) == 0,
                 "save_train_state then load_train_state changed the state");
  });
  FUZZ_REQUIRE(kTarget, reloaded, "a loaded state does not save and load again");
  return 0;
}
