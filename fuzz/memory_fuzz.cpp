// libFuzzer target: arbitrary bytes as a memory file (.rccm; rcc/memory_file.h, load_memory). The
// input is the file without its trailing XXH64 checksum: the harness appends the checksum of the
// bytes given (fuzz_util.h, with_checksum) so that inputs reach the header and payload checks, and
// the reader opens the result from a scratch file, as `rcc ask --memory` and `rcc inspect` do.
// Contract: load_memory either returns a memory or throws rcc::Error; any other exception, a crash,
// a sanitizer report, a leak, or an allocation beyond the file's size is a finding. A memory that
// loads must hold exactly slots x levels x hidden elements, a tail consistent with its mode, and be
// usable: every slot read as f32, its identity hashed, written with save_memory and loaded again
// unchanged, accepted by load_memory_for with its own identity. A memory that fits the tiny model
// of fuzz_model.h (same encoder fingerprint, W and R) is also prefilled into that model's decoder
// (up to 32 slots) and, in aligned mode, extended by three tokens with Compressor::append, after
// which it must save and load again (the layout check of load_memory holds after an append).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_model.h"
#include "fuzz_util.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/memory_file.h"

namespace {
constexpr const char* kTarget = "memory_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
rcc::RCCModel* model = nullptr;

bool same(const rcc::Memory& a, const rcc::Memory& b) {
  return a.dtype == b.dtype && a.levels == b.levels && a.hidden == b.hidden && a.data == b.data &&
         a.window == b.window && a.ratio == b.ratio && a.mode == b.mode &&
         a.encoder_fingerprint == b.encoder_fingerprint && a.token_count == b.token_count &&
         a.source_hash == b.source_hash && a.tail_ids == b.tail_ids && a.tail_slots == b.tail_slots;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("memory");
  model = new rcc::RCCModel(rcc::fuzz::tiny_rcc_model());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path = dir->write("x.rccm", fuzz::with_checksum(data, size));
  Memory m;
  if (!fuzz::expect_rcc_errors(kTarget, [&] { m = load_memory(path); })) return 0;

  const int64_t P = m.slots();
  FUZZ_REQUIRE(kTarget, m.levels >= 2 && m.hidden >= 1 && P >= 0, "levels/hidden/slots invalid");
  FUZZ_REQUIRE(kTarget, int64_t(m.data.size()) == P * m.slot_bytes(), "payload is not whole slots");
  FUZZ_REQUIRE(kTarget, m.data.size() <= size, "a memory larger than its file");
  FUZZ_REQUIRE(kTarget, m.window % m.ratio == 0 && int64_t(m.tail_ids.size()) < m.window,
               "window, ratio or tail invalid");
  FUZZ_REQUIRE(kTarget, m.mode == WindowMode::Aligned || (m.tail_ids.empty() && m.tail_slots == 0),
               "a compat memory with a tail");
  FUZZ_REQUIRE(kTarget, m.tail_slots >= 0 && m.tail_slots <= P, "tail_slots out of range");
  std::vector<float> f32(size_t(P * m.levels * m.hidden));
  fuzz::expect_rcc_errors(kTarget, [&] { m.slots_f32(0, P, f32.data()); });
  const Tensor t = m.as_tensor();
  FUZZ_REQUIRE(kTarget, t.shape() == Shape({P, m.levels, m.hidden}), "as_tensor() shape");
  const uint64_t id = memory_identity(m);

  const std::string again_path = dir->file("again.rccm");
  const bool reloaded = fuzz::expect_rcc_errors(kTarget, [&] {
    save_memory(again_path, m);
    const Memory again = load_memory(again_path);
    FUZZ_REQUIRE(kTarget, same(m, again), "save_memory then load_memory changed the memory");
    FUZZ_REQUIRE(kTarget, memory_identity(again) == id, "the identity changed");
  });
  FUZZ_REQUIRE(kTarget, reloaded, "a loaded memory does not save and load again");
  const bool accepted = fuzz::expect_rcc_errors(
      kTarget, [&] { load_memory_for(path, m.encoder_fingerprint, m.window, m.ratio); });
  FUZZ_REQUIRE(kTarget, accepted, "load_memory_for refuses the memory's own identity");

  if (m.encoder_fingerprint != model->encoder_fingerprint || m.window != model->settings.window ||
      m.ratio != model->settings.ratio)
    return 0;
  fuzz::expect_rcc_errors(kTarget, [&] {
    DecoderMemory dm(*model);
    dm.extend(m, 0, std::min<int64_t>(P, 32));
    FUZZ_REQUIRE(kTarget, dm.length() == std::min<int64_t>(P, 32), "decoder memory length");
  });
  if (m.mode != WindowMode::Aligned || m.levels != model->layers() + 1 ||
      m.hidden != model->hidden())
    return 0;
  const bool appended = fuzz::expect_rcc_errors(kTarget, [&] {
    Compressor(*model).append(m, {1, 2, 3});
  });
  if (!appended) return 0;
  const bool saved = fuzz::expect_rcc_errors(kTarget, [&] {
    save_memory(again_path, m);
    const Memory again = load_memory(again_path);
    FUZZ_REQUIRE(kTarget, same(m, again), "an appended memory changed through save and load");
  });
  FUZZ_REQUIRE(kTarget, saved, "an appended memory does not load again");
  return 0;
}
