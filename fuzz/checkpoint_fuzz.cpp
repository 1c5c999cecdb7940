// libFuzzer target: arbitrary bytes as a model directory (io/checkpoint.h, model/load.h): the
// sharded index model.safetensors.index.json and up to four safetensors shards. The input is cut
// at each line "@@shard@@": the part before the first cut is the index (none when empty), each
// later part a shard, written as model-0000K-of-0000N.safetensors as write_checkpoint names them,
// beside a fixed config.json (the tiny model of fuzz_model.h).
// Contract: Checkpoint::open either succeeds or throws rcc::Error, and so does load_model on the
// same directory; anything else (another exception type, a crash, a sanitizer report, a leak) is
// a finding. A checkpoint that opens is read back: every tensor's dtype and joined shape, get()
// (which concatenates pieces split across shards) returning exactly shape x dtype size bytes, the
// sum of the pieces equal to total_bytes(). A model that loads runs one forward pass of two
// tokens.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_model.h"
#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "model/load.h"

namespace {
constexpr const char* kTarget = "checkpoint_fuzz";
constexpr std::string_view kCut = "\n@@shard@@\n";
constexpr size_t kMaxShards = 4;
rcc::fuzz::FuzzDir* dir = nullptr;
std::string config_json;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("checkpoint");
  config_json = rcc::fuzz::tiny_config().to_json();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    const size_t cut = in.find(kCut, at);
    if (cut == std::string_view::npos || parts.size() == kMaxShards) {
      parts.push_back(in.substr(at));
      break;
    }
    parts.push_back(in.substr(at, cut - at));
    at = cut + kCut.size();
  }
  dir->clear();
  dir->write("config.json", config_json);
  if (!parts[0].empty()) dir->write("model.safetensors.index.json", parts[0]);
  const size_t n = parts.size() - 1;
  for (size_t i = 1; i < parts.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i, n);
    dir->write(n == 1 ? "model.safetensors" : name, parts[i]);
  }

  const bool opened = fuzz::expect_rcc_errors(kTarget, [&] {
    const Checkpoint c = Checkpoint::open(dir->path());
    size_t sum = 0;
    for (const std::string& name : c.names()) {
      const DType dt = c.dtype(name);
      const Shape shape = c.shape(name);
      const Tensor t = c.get(name);
      FUZZ_REQUIRE(kTarget, t.dtype() == dt && t.shape() == shape,
                   "get('" + name + "') differs from dtype()/shape()");
      FUZZ_REQUIRE(kTarget, t.nbytes() == size_t(shape_numel(shape)) * dtype_size(dt),
                   "get('" + name + "') has the wrong byte count");
      sum += t.nbytes();
      FUZZ_REQUIRE(kTarget, c.get(name, shape).shape() == shape,
                   "get('" + name + "', its own shape) differs");
    }
    FUZZ_REQUIRE(kTarget, sum == c.total_bytes(), "total_bytes() differs from the tensors' sum");
  });
  if (!opened) return 0;
  fuzz::expect_rcc_errors(kTarget, [&] {
    const Transformer model = load_model(dir->path());
    KVCache cache = model.new_cache();
    const std::vector<float> logits = model.forward_logits({1, 2}, cache);
    FUZZ_REQUIRE(kTarget, logits.size() == 2 * size_t(model.config().vocab_size),
                 "forward_logits returned the wrong size");
  });
  return 0;
}
