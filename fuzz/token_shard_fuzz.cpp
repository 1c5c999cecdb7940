// libFuzzer target: arbitrary bytes as a token shard (.rcctok; tasks/shards.h, Shard::open and
// TokenCorpus::open, as `rcc data info` and training read them). The input is the file without its
// trailing XXH64 checksum: the harness appends the checksum of the bytes given (fuzz_util.h) so
// that inputs reach the header and payload checks; the readers open the result from a scratch file.
// Contract: opening either succeeds or throws rcc::Error; any other exception, a crash, a sanitizer
// report or a leak is a finding. A shard that opens must hold exactly `tokens` ids of its dtype in
// its payload; all ids are read (an id outside the vocabulary must throw rcc::Error, never come
// back), a read past the end throws, and a corpus of the shard given twice draws random spans
// (each id inside the vocabulary).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tasks/rng.h"
#include "tasks/shards.h"

namespace {
constexpr const char* kTarget = "token_shard_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("token_shard");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path = dir->write("x.rcctok", fuzz::with_checksum(data, size));
  fuzz::expect_rcc_errors(kTarget, [&] {
    const Shard s = Shard::open(path);
    const ShardInfo& info = s.info();
    FUZZ_REQUIRE(kTarget, info.vocab_size >= 1 && info.tokens >= 0 && info.documents >= 0,
                 "negative counts or empty vocabulary");
    FUZZ_REQUIRE(kTarget, info.token_bytes == 2 || info.token_bytes == 4, "token bytes");
    FUZZ_REQUIRE(kTarget, uint64_t(info.tokens) * uint64_t(info.token_bytes) <= size,
                 "more tokens than the file holds");
    std::vector<int32_t> ids(size_t(info.tokens));
    if (fuzz::expect_rcc_errors(kTarget, [&] { s.read(0, info.tokens, ids.data()); }))
      for (int32_t id : ids)
        FUZZ_REQUIRE(kTarget, id >= 0 && id < info.vocab_size,
                     "an id outside the vocabulary was read");
    const bool refused = !fuzz::expect_rcc_errors(kTarget, [&] {
      int32_t x;
      s.read(info.tokens, 1, &x);
    });
    FUZZ_REQUIRE(kTarget, refused, "a read past the end did not throw");

    const TokenCorpus corpus = TokenCorpus::open({path, path});
    FUZZ_REQUIRE(kTarget, corpus.tokens() == 2 * info.tokens, "corpus token count");
    Rng rng{uint64_t(size)};
    for (int64_t n : {int64_t(1), std::min<int64_t>(info.tokens, 7), info.tokens}) {
      if (n < 1 || n > info.tokens) continue;
      fuzz::expect_rcc_errors(kTarget, [&] {
        for (int32_t id : corpus.span(n, rng))
          FUZZ_REQUIRE(kTarget, id >= 0 && id < info.vocab_size,
                       "a span id outside the vocabulary");
      });
    }
  });
  return 0;
}
