// rcc bench-context --kind rcc|plain --tokens N [--hidden 256 --layers 4 --heads 4] [--window 2048
//                   --ratio 32] [--threads N]
// One measurement of the RCC memory curve: compress N random tokens with a random RCC model (streamed
// window by window), or prefill N tokens through a plain GPT-NeoX of the same shape (one pass, KV
// cache of all N). Prints one JSON line: tokens/s and this process's peak RSS. bench/context_curve.sh
// runs it per length in separate processes so that each peak is its own.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/progress.h"
#include "model/init.h"
#include "rcc/compressor.h"
#include "rcc/rcc_init.h"

namespace rcc::cli {

namespace {
double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}
}  // namespace

int cmd_bench_context(int argc, char** argv) {
  Args a(argc, argv,
         {"kind", "tokens", "hidden", "layers", "heads", "vocab", "window", "ratio", "threads", "chunk"},
         {"help"});
  if (a.has("help")) {
    std::fputs("usage: rcc bench-context --kind rcc|plain --tokens N [--hidden H --layers L --heads A\n"
               "       --vocab V --window W --ratio R --chunk C --threads N]\n", stdout);
    return 0;
  }
  init_runtime(a);
  const std::string kind = a.require("kind");
  if (kind != "rcc" && kind != "plain") throw UsageError("--kind must be rcc or plain");
  const int64_t n = a.get_int("tokens", 8192, 1, int64_t(1) << 31);
  GPTNeoXConfig cfg;
  cfg.hidden_size = a.get_int("hidden", 256, 8, 8192);
  cfg.num_layers = a.get_int("layers", 4, 1, 128);
  cfg.num_heads = a.get_int("heads", 4, 1, 128);
  cfg.vocab_size = a.get_int("vocab", 50304, 2, 1 << 20);
  cfg.intermediate_size = 4 * cfg.hidden_size;
  RCCSettings s;
  s.window = a.get_int("window", 2048, 1, 1 << 20);
  s.ratio = a.get_int("ratio", 32, 1, 1 << 20);
  s.validate("bench");
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 2654435761ull) % uint64_t(cfg.vocab_size));
  const double rss_before = peak_rss_mib();
  nlohmann::json j;
  j["kind"] = kind;
  j["tokens"] = n;
  j["hidden"] = cfg.hidden_size;
  j["layers"] = cfg.num_layers;
  auto t0 = std::chrono::steady_clock::now();
  if (kind == "rcc") {
    RCCModel m = init_random_rcc(cfg, s, DType::F32, 1);
    t0 = std::chrono::steady_clock::now();
    Progress p("compressing", n, "tokens");
    Memory mem = Compressor(m).compress(ids, WindowMode::Aligned, DType::BF16,
                                        [&](int64_t i, int64_t c, const float*, int64_t) {
                                          p.update(n * (i + 1) / c);
                                        });
    p.finish(n);
    j["slots"] = mem.slots();
    j["memory_mib"] = double(mem.data.size()) / (1 << 20);
  } else {
    GPTNeoX model(cfg, init_random_weights(cfg, DType::F32, 1));
    t0 = std::chrono::steady_clock::now();
    // Prefill in chunks of --chunk rows (default: all at once), as a long-context prefill would.
    const int64_t chunk = a.get_int("chunk", n, 1, n);
    KVCache cache = model.new_cache();
    cache.reserve(n);
    std::vector<float> x;
    Progress p("prefilling", n, "tokens");
    for (int64_t b = 0; b < n; b += chunk) {
      const int64_t c = std::min(chunk, n - b);
      x.resize(size_t(c * cfg.hidden_size));
      model.embed(ids.data() + b, c, x.data());
      SeqSlice sl{0, c, &cache};
      model.forward(x.data(), c, {&sl, 1});
      p.update(b + c);
    }
    p.finish(n);
    j["kv_cache_mib"] = double(cache.bytes()) / (1 << 20);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  j["seconds"] = secs;
  j["tokens_per_s"] = double(n) / secs;
  j["peak_rss_mib"] = peak_rss_mib();
  j["rss_before_mib"] = rss_before;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace rcc::cli
