// rcc bench-batch [--shape 160m] [--device cpu|cuda] [--dtype f32|bf16] [--memory P] [--prompt N]
//                 [--decode N] [--batch 1,4,16,64] [--memories shared,own] [--threads N]
// Batched decoding (model/decode_batch.h) on a random GPT-NeoX decoder of a Pythia shape (or the
// bundled model's): B sequences, each after a memory prefix of P positions — all continuing one
// shared prefix cache ("shared"), or each its own copy of it ("own") — with a prompt of N tokens,
// then --decode tokens each, all in one batch. One JSON line per (memories, B): decode tokens/s of
// the batch, seconds per step (= per-token latency of each sequence), prompt-pass seconds, and the
// cache bytes held (prefixes counted once). B = 1 is measured in the same run.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "backend/backend.h"
#include "bench_shapes.h"
#include "commands.h"
#include "model/decode_batch.h"
#include "model/init.h"
#include "output.h"

namespace rcc::cli {

namespace {

const char* kHelp =
    "usage: rcc bench-batch [--shape tiny|rcc-tiny|160m|410m|1.4b] [--device cpu|cuda]\n"
    "                       [--dtype f32|bf16] [--memory P] [--prompt N] [--decode N]\n"
    "                       [--batch 1,4,16,64] [--memories shared,own] [--threads N]\n"
    "Decode tokens/s and per-token latency of B sequences decoding together after a memory\n"
    "prefix of P positions (shared by all, or one copy each); one JSON line per point.\n";

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int cmd_bench_batch(int argc, char** argv) {
  Args a(argc, argv,
         {"shape", "device", "dtype", "memory", "prompt", "decode", "batch", "memories", "threads"},
         {"help", "json"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  init_runtime(a);
  Backend& be = backend_for(a.get_or("device", "cpu"));
  const std::string shape = a.get_or("shape", "160m");
  const std::string dt = a.get_or("dtype", be.is_host() ? "f32" : "bf16");
  if (dt != "f32" && dt != "bf16") throw UsageError("--dtype must be f32 or bf16");
  const int64_t P = a.get_int("memory", 1024, 1, 1 << 24);
  const int64_t prompt = a.get_int("prompt", 16, 1, 1 << 16);
  const int64_t decode = a.get_int("decode", 32, 2, 1 << 16);
  const std::vector<int32_t> batches = parse_id_list(a.get_or("batch", "1,4,16,64"), "batch");
  std::vector<std::string> modes;
  {
    std::stringstream ss(a.get_or("memories", "shared,own"));
    for (std::string m; std::getline(ss, m, ',');) {
      if (m != "shared" && m != "own") throw UsageError("--memories takes shared and/or own");
      modes.push_back(m);
    }
  }
  for (int32_t b : batches)
    if (b < 1 || b > 4096) throw UsageError("--batch sizes must be in 1..4096");

  ModelConfig cfg = bench_shape(shape);
  cfg.max_position_embeddings = std::max<int64_t>(cfg.max_position_embeddings, 1 << 20);
  std::fprintf(stderr, "bench-batch %s: %.0fM random parameters (%s) on %s\n", shape.c_str(),
               double(cfg.parameter_count()) / 1e6, dt.c_str(), be.name().c_str());
  const Transformer model(cfg, init_random_weights(cfg, dt == "f32" ? DType::F32 : DType::BF16, 7),
                          be);
  // The memory prefix: P positions of keys/values from a forward pass over fixed token ids (the
  // same shapes and reads as an RCC memory's; the values do not change the speed).
  KVCache prefix = model.new_cache();
  {
    prefix.reserve(P);
    const int64_t chunk = be.is_host() ? 512 : 2048;
    std::vector<int32_t> ids;
    DeviceBuffer x;
    for (int64_t p0 = 0; p0 < P; p0 += chunk) {
      const int64_t n = std::min(chunk, P - p0);
      ids.resize(size_t(n));
      for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t(((p0 + i) * 7919) % cfg.vocab_size);
      x.ensure(be, be.act_bytes(n * cfg.hidden_size));
      model.embed(ids.data(), n, x.get());
      SeqSlice s{0, n, &prefix};
      model.forward(x.get(), n, {&s, 1});
    }
    be.synchronize();
  }
  GenerateParams gp;
  gp.max_new_tokens = decode;  // no stop ids: every sequence runs its full length
  for (const std::string& mode : modes) {
    for (int32_t B : batches) {
      std::vector<KVCache> owned;  // "own": a copy of the prefix per sequence
      std::vector<KVCache> caches;
      if (mode == "own") owned.assign(size_t(B), prefix);
      for (int32_t b = 0; b < B; ++b)
        caches.push_back(KVCache::continuing(mode == "own" ? owned[size_t(b)] : prefix));
      DecodeBatch batch(model);
      for (int32_t b = 0; b < B; ++b) {
        std::vector<int32_t> ids(static_cast<size_t>(prompt));
        for (int64_t i = 0; i < prompt; ++i)
          ids[size_t(i)] = int32_t((b * 131 + i * 17 + 3) % cfg.vocab_size);
        batch.add({&caches[size_t(b)], ids, gp, size_t(b), uint64_t(b)});
      }
      const double t0 = now();
      batch.step();  // every prompt in one pass: each sequence's first token
      be.synchronize();
      const double t1 = now();
      int64_t steps = 0, tail_bytes = 0;
      while (!batch.empty()) {
        if (steps == decode / 2)
          for (const KVCache& c : caches) tail_bytes += int64_t(c.bytes());
        batch.step();
        ++steps;
      }
      be.synchronize();
      const double t2 = now();
      const double secs = t2 - t1;
      int64_t prefix_bytes = int64_t(prefix.bytes());
      if (mode == "own") prefix_bytes *= B;
      nlohmann::json j;
      j["shape"] = shape;
      j["device"] = be.name();
      j["dtype"] = dt;
      j["memories"] = mode;
      j["memory_positions"] = P;
      j["prompt_tokens"] = prompt;
      j["batch"] = B;
      j["decode_steps"] = steps;
      j["decode_tokens_per_s"] = double(B) * double(steps) / secs;
      j["seconds_per_step"] = secs / double(steps);
      j["prompt_pass_s"] = t1 - t0;
      j["prefix_bytes"] = prefix_bytes;
      j["tail_bytes"] = tail_bytes;
      print_json(j);
      std::fprintf(stderr, "bench-batch %s %s B=%d: %.1f tok/s, %.2f ms per step\n", shape.c_str(),
                   mode.c_str(), B, double(B) * double(steps) / secs, 1e3 * secs / double(steps));
    }
  }
  return 0;
}

}  // namespace rcc::cli
