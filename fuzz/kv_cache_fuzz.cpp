// libFuzzer target: arbitrary bytes as a saved decoder cache (.rcckv; rcc/kv_file.h,
// load_decoder_cache), checked against the tiny model of fuzz_model.h and the memory identity
// kTinyMemoryIdentity, as `rcc ask --kv-cache` checks a cache against its model and memory. The
// input is the file without its trailing XXH64 checksum: the harness appends the checksum of the
// bytes given (fuzz_util.h) so that inputs reach the header and payload checks; the reader opens
// the result from a scratch file.
// Contract: load_decoder_cache either fills the decoder memory or throws rcc::Error; any other
// exception, a crash, a sanitizer report, a leak, or a cache reserved beyond what the file holds
// is a finding. A cache that loads must hold exactly the positions its payload carries; the
// decoder then answers from it (logits of a two-token prompt), saves it with save_decoder_cache
// and loads that file again.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_model.h"
#include "fuzz_util.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"

namespace {
constexpr const char* kTarget = "kv_cache_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
rcc::RCCModel* model = nullptr;
uint64_t decoder_fp = 0;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("kv_cache");
  model = new rcc::RCCModel(rcc::fuzz::tiny_rcc_model());
  decoder_fp = rcc::decoder_fingerprint(*model);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path = dir->write("x.rcckv", fuzz::with_checksum(data, size));
  DecoderMemory dm(*model);
  if (!fuzz::expect_rcc_errors(
          kTarget, [&] { load_decoder_cache(path, dm, fuzz::kTinyMemoryIdentity, decoder_fp); }))
    return 0;
  const KVCache& c = dm.cache();
  const int64_t P = dm.length();
  FUZZ_REQUIRE(kTarget, P >= 0 && c.length() == P,
               "cache length differs from the decoder memory's");
  FUZZ_REQUIRE(kTarget, uint64_t(P) * uint64_t(c.layers()) * 2 * uint64_t(c.width()) * 4 <= size,
               "a cache larger than its file");
  if (P > 0) {
    const std::vector<float> logits = dm.prompt_logits({1, 2});
    FUZZ_REQUIRE(kTarget, logits.size() == 2 * size_t(model->decoder.config().vocab_size),
                 "prompt_logits size");
    FUZZ_REQUIRE(kTarget, dm.length() == P && c.length() == P, "prompt not cut from the cache");
  }
  const std::string again = dir->file("again.rcckv");
  const bool reloaded = fuzz::expect_rcc_errors(kTarget, [&] {
    save_decoder_cache(again, dm, fuzz::kTinyMemoryIdentity, decoder_fp);
    DecoderMemory dm2(*model);
    load_decoder_cache(again, dm2, fuzz::kTinyMemoryIdentity, decoder_fp);
    FUZZ_REQUIRE(kTarget, dm2.length() == P, "a saved cache loads with another length");
  });
  FUZZ_REQUIRE(kTarget, reloaded, "a loaded cache does not save and load again");
  return 0;
}
