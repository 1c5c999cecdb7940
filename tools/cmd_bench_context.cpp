// rcc bench-context --kind rcc|plain|rcc-ask|plain-generate|encode --tokens N [--model DIR |
// --hidden 256
//                   --layers 4 --heads 4 --vocab V] [--window 2048 --ratio 32] [--new-tokens 32]
//                   [--device cpu|cuda] [--kv-8bit] [--repeat K] [--threads N]
// One measurement of the RCC memory curve on one backend:
//   rcc            compress N tokens with an RCC model (streamed window by window, slots kept);
//   plain          prefill N tokens through the decoder alone (KV cache of all N);
//   rcc-ask        the whole pipeline of spec §2–§3: encoder windows streamed straight into the
//                  decoder's memory prefill (E / A_i injection), then --new-tokens greedy tokens;
//   plain-generate the decoder alone: prefill all N tokens, then --new-tokens greedy tokens;
//   encode         the encoder alone (compat windows, slots dropped), with its model FLOPs.
// The model is --model DIR (an RCC checkpoint) or a random one of the given shape. Prints one JSON
// line per repeat: seconds, tokens/s, peak RSS and (devices) peak device memory. bench/ scripts run
// it per length in separate processes so that each peak is its own.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/progress.h"
#include "model/generate.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/rcc_init.h"

namespace rcc::cli {

namespace {
double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

// Prefills ids through `model` into `cache` in chunks of `chunk` rows.
void prefill(const GPTNeoX& model, const std::vector<int32_t>& ids, int64_t chunk, KVCache& cache,
             Progress& p) {
  Backend& be = model.backend();
  const int64_t n = int64_t(ids.size()), H = model.config().hidden_size;
  DeviceBuffer x(be, be.act_bytes(std::min(chunk, n) * H));
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t c = std::min(chunk, n - b);
    model.embed(ids.data() + b, c, x.get());
    SeqSlice sl{0, c, &cache};
    model.forward(x.get(), c, {&sl, 1});
    p.update(b + c);
  }
}
}  // namespace

int cmd_bench_context(int argc, char** argv) {
  Args a(argc, argv,
         {"kind", "tokens", "hidden", "layers", "heads", "vocab", "window", "ratio", "threads",
          "chunk", "model", "new-tokens", "device", "repeat", "encoder-batch"},
         {"help", "kv-8bit", "quiet"});
  if (a.has("help")) {
    std::fputs(
        "usage: rcc bench-context --kind rcc|plain|rcc-ask|plain-generate|encode --tokens N\n"
        "       [--model DIR | --hidden H --layers L --heads A --vocab V] [--window W\n"
        "       --ratio R] [--chunk C] [--new-tokens 32] [--device D] [--kv-8bit]\n"
        "       [--encoder-batch B] [--repeat K] [--threads N] [--quiet | --progress]\n",
        stdout);
    return 0;
  }
  init_runtime(a);
  const std::string kind = a.require("kind");
  if (kind != "rcc" && kind != "plain" && kind != "rcc-ask" && kind != "plain-generate" &&
      kind != "encode")
    throw UsageError("--kind must be rcc, plain, rcc-ask, plain-generate or encode");
  Backend& be = device_backend(a);
  // --tokens: one length or a comma-separated list, measured in order in this process (each with
  // its own peak: everything of one measurement is freed before the next).
  std::vector<int64_t> lengths;
  for (int32_t v : parse_id_list(a.get_or("tokens", "8192"), "tokens")) {
    if (v < 1) throw UsageError("--tokens: lengths must be >= 1");
    lengths.push_back(v);
  }
  const int64_t new_tokens = a.get_int("new-tokens", 32, 1, 1 << 20);
  const int64_t repeat = a.get_int("repeat", 1, 1, 1000);
  const double rss_before = peak_rss_mib();
  auto l0 = std::chrono::steady_clock::now();
  RCCModel m = [&] {
    if (auto dir = a.get("model")) return RCCModel::load(*dir, be);
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
    RCCModel r = init_random_rcc(cfg, s, be.is_host() ? DType::F32 : DType::BF16, 1);
    if (be.is_host()) return r;
    // Rebuild on the device backend (the random weights are host tensors).
    RCCModel d{GPTNeoX(cfg, r.encoder.weights(), be),
               GPTNeoX(cfg, r.decoder.weights(), be),
               r.embed_proj,
               r.layer_proj,
               r.settings,
               r.encoder_fingerprint};
    d.prepare();
    return d;
  }();
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - l0).count();
  const GPTNeoXConfig& cfg = m.decoder.config();
  GenerateParams gp;
  gp.max_new_tokens = new_tokens;
  gp.min_new_tokens = new_tokens;  // fixed work: never stop early
  const std::vector<int32_t> prompt = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};

  for (const int64_t n : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      ids[size_t(i)] = int32_t((i * 2654435761ull) % uint64_t(cfg.vocab_size));
    bool out_of_memory = false;
    for (int64_t rep = 0; rep < repeat && !out_of_memory; ++rep) {
      nlohmann::json j;
      j["kind"] = kind;
      j["tokens"] = n;
      j["hidden"] = cfg.hidden_size;
      j["layers"] = cfg.num_layers;
      j["device"] = be.name();
      j["load_seconds"] = load_s;
      be.synchronize();
      be.reset_peak();
      auto t0 = std::chrono::steady_clock::now();
      try {
        if (kind == "rcc") {
          Progress p("compressing", n, "tokens");
          Memory mem = Compressor(m).compress(
              ids, WindowMode::Aligned, DType::BF16,
              [&](int64_t i, int64_t c, const float*, int64_t) { p.update(n * (i + 1) / c); });
          p.finish(n);
          j["slots"] = mem.slots();
          j["memory_mib"] = double(mem.data.size()) / (1 << 20);
        } else if (kind == "encode") {  // the encoder alone: windows streamed, slots dropped
          Compressor comp(m);
          if (a.has("encoder-batch"))
            comp.set_batch_windows(a.get_int("encoder-batch", 1, 1, 1024));
          Progress p("encoding", n, "tokens");
          j["slots"] = comp.stream(
              ids, WindowMode::Compat,
              [&](int64_t i, int64_t c, const void*, int64_t) { p.update(n * (i + 1) / c); });
          p.finish(n);
          // FLOPs of the encoder as it runs: 2 per multiply-add of every matrix product (the LM
          // head excluded) and of causal attention within each window; the last layer's dense
          // projection and MLP only at the S = W/R slot rows (GPTNeoX::forward_rows).
          // encoder_gflop_all_rows: the same with the last layer on every row (before that).
          const double H = double(cfg.hidden_size), I = double(cfg.intermediate_size);
          const double Lyr = double(cfg.num_layers), W = double(m.settings.window);
          const double S = W / double(m.settings.ratio);
          const double windows = std::ceil(double(n) / W);
          const double layer_rows = 2.0 * (4 * H * H + 2 * H * I);  // per row of a whole layer
          const double attention = 2.0 * Lyr * W * W * H * windows;
          j["encoder_gflop"] =
              ((Lyr - 1) * layer_rows * W * windows + 2.0 * 3 * H * H * W * windows +
               2.0 * (H * H + 2 * H * I) * S * windows + attention) /
              1e9;
          j["encoder_gflop_all_rows"] = (Lyr * layer_rows * W * windows + attention) / 1e9;
        } else if (kind == "rcc-ask") {
          Compressor comp(m);
          if (a.has("encoder-batch"))
            comp.set_batch_windows(a.get_int("encoder-batch", 1, 1, 1024));
          j["encoder_batch"] = a.get_int("encoder-batch", be.is_host() ? 1 : 4, 1, 1024);
          DecoderMemory dm(m, a.has("kv-8bit"));
          dm.reserve(
              Compressor::slot_count(ids, m.settings.window, m.settings.ratio, WindowMode::Compat) +
              int64_t(prompt.size()) + new_tokens);
          Progress p("compressing + memory prefill", n, "tokens");
          comp.stream(ids, WindowMode::Compat,
                      [&](int64_t i, int64_t c, const void* slots, int64_t s) {
                        dm.push(slots, s);
                        p.update(n * (i + 1) / c);
                      });
          dm.flush();
          p.finish(n);
          be.synchronize();
          j["compress_prefill_seconds"] =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          GenerateResult r = dm.generate(prompt, gp);
          j["slots"] = dm.length();
          j["generated"] = r.ids.size();
          j["kv_cache_mib"] = double(dm.cache().bytes()) / (1 << 20);
        } else {
          const int64_t chunk = a.get_int("chunk", be.is_host() ? n : 8192, 1, n);
          KVCache cache = m.decoder.new_cache(a.has("kv-8bit"));
          cache.reserve(n + (kind == "plain-generate" ? new_tokens : 0));
          Progress p("prefilling", n, "tokens");
          if (kind == "plain") {
            prefill(m.decoder, ids, chunk, cache, p);
          } else {  // all but the last token prefilled in chunks; generate() feeds the last one
            std::vector<int32_t> head(ids.begin(), ids.end() - 1);
            if (!head.empty()) prefill(m.decoder, head, chunk, cache, p);
            GenerateResult r = generate(m.decoder, {&cache}, {{ids.back()}}, gp)[0];
            j["generated"] = r.ids.size();
          }
          p.finish(n);
          j["kv_cache_mib"] = double(cache.bytes()) / (1 << 20);
        }
        be.synchronize();
      } catch (const Error& e) {
        // Out of (device) memory at this length: report it and go on with the next length.
        const std::string what = e.what();
        if (what.find("out of") == std::string::npos && what.find("memory") == std::string::npos)
          throw;
        j["oom"] = true;
        j["error"] = what;
        j["peak_device_gib"] = double(be.peak_bytes()) / double(1 << 30);
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
        out_of_memory = true;
        continue;
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      j["seconds"] = secs;
      j["tokens_per_s"] = double(n) / secs;
      j["peak_rss_mib"] = peak_rss_mib();
      j["rss_before_mib"] = rss_before;
      if (!be.is_host()) j["peak_device_gib"] = double(be.peak_bytes()) / double(1 << 30);
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace rcc::cli
