// rcc bench-context --kind rcc|plain|rcc-ask|plain-generate|encode --tokens N
//                   [--model DIR | --hidden 256 --layers 4 --heads 4 --vocab V]
//                   [--window 2048 --ratio 32] [--new-tokens 32] [--device cpu|cuda] [--kv-8bit]
//                   [--repeat K] [--threads N]
// One measurement of the RCC memory curve on one backend:
//   rcc            compress N tokens with an RCC model (streamed window by window, slots kept);
//   plain          prefill N tokens through the decoder alone (KV cache of all N);
//   rcc-ask        the whole pipeline of spec §2–§3: encoder windows streamed straight into the
//                  decoder's memory prefill (E / A_i injection), then --new-tokens greedy tokens;
//   plain-generate the decoder alone: prefill all N tokens, then --new-tokens greedy tokens;
//   encode         the encoder alone (compat windows, slots dropped), with its model FLOPs;
//   slot-error     the memory of the bf16 encoder against that of the FP8 encoder (spec §2.8) on
//                  the same weights: ‖fp8 − bf16‖ / ‖bf16‖ per level (--text FILE: the model's
//                  tokens of that text, repeated to the length, instead of hashed ids).
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
#include "inputs.h"
#include "model/generate.h"
#include "output.h"
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
void prefill(const Transformer& model, const std::vector<int32_t>& ids, int64_t chunk,
             KVCache& cache, Progress& p) {
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

using Clock = std::chrono::steady_clock;

// --kind, checked.
std::string bench_kind(const Args& a) {
  const std::string kind = a.require("kind");
  if (kind != "rcc" && kind != "plain" && kind != "rcc-ask" && kind != "plain-generate" &&
      kind != "encode" && kind != "slot-error")
    throw UsageError("--kind must be rcc, plain, rcc-ask, plain-generate, encode or slot-error");
  return kind;
}

// --tokens: one length or a comma-separated list, measured in order in this process (each with
// its own peak: everything of one measurement is freed before the next).
std::vector<int64_t> bench_lengths(const Args& a) {
  std::vector<int64_t> lengths;
  for (int32_t v : parse_id_list(a.get_or("tokens", "8192"), "tokens")) {
    if (v < 1) throw UsageError("--tokens: lengths must be >= 1");
    lengths.push_back(v);
  }
  return lengths;
}

// The model: --model DIR, else a random one of the flags' shape (f32 on the host, bf16 on a
// device) rebuilt on `be`.
RCCModel bench_model(const Args& a, Backend& be) {
  if (auto dir = a.get("model")) return RCCModel::load(*dir, be, encoder_precision(a));
  ModelConfig cfg;
  cfg.hidden_size = a.get_int("hidden", 256, 8, 8192);
  cfg.num_layers = a.get_int("layers", 4, 1, 128);
  cfg.num_heads = a.get_int("heads", 4, 1, 128);
  cfg.vocab_size = a.get_int("vocab", 50304, 2, 1 << 20);
  cfg.intermediate_size = 4 * cfg.hidden_size;
  RCCSettings s;
  s.window = a.get_int("window", 2048, 1, 1 << 20);
  s.ratio = a.get_int("ratio", 32, 1, 1 << 20);
  s.validate("bench");
  s.encoder_precision = encoder_precision(a).value_or(EncoderPrecision::BF16);
  const bool fp8 = s.encoder_precision == EncoderPrecision::FP8;
  RCCModel r = init_random_rcc(cfg, s, be.is_host() ? DType::F32 : DType::BF16, 1);
  if (be.is_host() && !fp8) return r;
  // Rebuild on the device backend (the random weights are host tensors); an FP8 encoder is
  // refused, by name, where the backend has none.
  RCCModel d{Transformer(cfg, r.encoder.weights(), be, fp8),
             Transformer(cfg, r.decoder.weights(), be),
             r.embed_proj,
             r.layer_proj,
             r.settings,
             r.encoder_fingerprint};
  d.prepare();
  return d;
}

// n deterministic token ids below `vocab` (a multiplicative hash of the position).
std::vector<int32_t> bench_ids(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 2654435761ull) % uint64_t(vocab));
  return ids;
}

// What every measurement of the process shares.
struct Bench {
  const Args& a;
  const std::string& kind;
  Backend& be;
  const RCCModel& m;
  const GenerateParams& gp;  // --new-tokens greedy tokens, never stopping early
  const std::vector<int32_t>& prompt;
  int64_t new_tokens;
  double load_s, rss_before;  // the model's load time; peak RSS before it
};

// kind rcc: compresses `ids` into a kept memory (aligned windows, bf16). Adds slots, memory_mib.
void measure_rcc(const Bench& b, const std::vector<int32_t>& ids, nlohmann::json& j) {
  const int64_t n = int64_t(ids.size());
  Progress p("compressing", n, "tokens");
  Memory mem = Compressor(b.m).compress(
      ids, WindowMode::Aligned, DType::BF16,
      [&](int64_t i, int64_t c, const float*, int64_t) { p.update(n * (i + 1) / c); });
  p.finish(n);
  j["slots"] = mem.slots();
  j["memory_mib"] = double(mem.data.size()) / (1 << 20);
}

// kind encode: the encoder alone, windows streamed (compat), slots dropped. Adds slots,
// encoder_gflop and encoder_gflop_all_rows.
void measure_encode(const Bench& b, const std::vector<int32_t>& ids, nlohmann::json& j) {
  const int64_t n = int64_t(ids.size());
  const ModelConfig& cfg = b.m.decoder.config();
  Compressor comp(b.m);
  if (b.a.has("encoder-batch")) comp.set_batch_windows(b.a.get_int("encoder-batch", 1, 1, 1024));
  Progress p("encoding", n, "tokens");
  j["slots"] =
      comp.stream(ids, WindowMode::Compat,
                  [&](int64_t i, int64_t c, const void*, int64_t) { p.update(n * (i + 1) / c); });
  p.finish(n);
  // FLOPs of the encoder as it runs: 2 per multiply-add of every matrix product (the LM
  // head excluded) and of causal attention within each window; the last layer's dense
  // projection and MLP only at the S = W/R slot rows (Transformer::forward_rows).
  // encoder_gflop_all_rows: the same with the last layer on every row.
  // Widths of the family (model/config.h): GPT-NeoX's qkv 3H², output H², MLP 2HI.
  const double H = double(cfg.hidden_size), I = double(cfg.intermediate_size);
  const double Q = double(cfg.q_width()), QKV = double(cfg.qkv_width()),
               M = double(cfg.mlp_in_rows());
  const double Lyr = double(cfg.num_layers), W = double(b.m.settings.window);
  const double S = W / double(b.m.settings.ratio);
  const double windows = std::ceil(double(n) / W);
  const double out_part = 2.0 * (H * Q + H * M + I * H);  // per row: output projection and MLP
  const double layer_rows = 2.0 * H * QKV + out_part;     // per row of a whole layer
  const double attention = 2.0 * Lyr * W * W * Q * windows;
  j["encoder_gflop"] = ((Lyr - 1) * layer_rows * W * windows + 2.0 * H * QKV * W * windows +
                        out_part * S * windows + attention) /
                       1e9;
  j["encoder_gflop_all_rows"] = (Lyr * layer_rows * W * windows + attention) / 1e9;
}

// The memory (compat, f32 slots: the device's bf16 activations exactly) of `ids` by `m`.
Memory compat_memory(const RCCModel& m, const std::vector<int32_t>& ids, const char* what) {
  const int64_t n = int64_t(ids.size());
  Progress p(what, n, "tokens");
  Memory mem = Compressor(m).compress(
      ids, WindowMode::Compat, DType::F32,
      [&](int64_t i, int64_t c, const float*, int64_t) { p.update(n * (i + 1) / c); });
  p.finish(n);
  return mem;
}

// kind slot-error: the memory of b.m's encoder in bf16 against the same encoder with FP8 matrix
// products (its host weights prepared again). Adds slots, level_rel_error [L+1] (level 0: the
// embeddings, equal by construction), rel_error (all levels), fp8_seconds.
void measure_slot_error(const Bench& b, const std::vector<int32_t>& ids, nlohmann::json& j) {
  RCC_CHECK(!b.m.encoder.fp8_linear(),
            "--kind slot-error compares against the bf16 encoder: "
            "leave --encoder-precision out");
  const RCCModel& m = b.m;
  RCCModel m8{Transformer(m.encoder.config(), m.encoder.weights(), b.be, /*fp8_linear=*/true),
              m.decoder,
              m.embed_proj,
              m.layer_proj,
              m.settings,
              m.encoder_fingerprint,
              m.embed_proj_dev,
              m.layer_proj_dev};
  const Memory ref = compat_memory(m, ids, "encoding (bf16)");
  const auto t0 = Clock::now();
  const Memory fp8 = compat_memory(m8, ids, "encoding (fp8)");
  j["fp8_seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t P = ref.slots(), L1 = ref.levels, H = ref.hidden;
  const float* r = reinterpret_cast<const float*>(ref.data.data());
  const float* q = reinterpret_cast<const float*>(fp8.data.data());
  std::vector<double> num(size_t(L1), 0.0), den(size_t(L1), 0.0);
  for (int64_t s = 0; s < P; ++s)
    for (int64_t l = 0; l < L1; ++l)
      for (int64_t h = 0; h < H; ++h) {
        const size_t i = size_t((s * L1 + l) * H + h);
        const double d = double(q[i]) - double(r[i]);
        num[size_t(l)] += d * d;
        den[size_t(l)] += double(r[i]) * double(r[i]);
      }
  std::vector<double> per_level;
  double tn = 0, td = 0;
  for (int64_t l = 0; l < L1; ++l) {
    per_level.push_back(den[size_t(l)] > 0 ? std::sqrt(num[size_t(l)] / den[size_t(l)]) : 0.0);
    tn += num[size_t(l)], td += den[size_t(l)];
  }
  j["slots"] = P;
  j["level_rel_error"] = per_level;
  j["rel_error"] = td > 0 ? std::sqrt(tn / td) : 0.0;
}

// kind rcc-ask: the encoder's windows (compat) streamed into the decoder's memory prefill, then
// the prompt and --new-tokens greedy tokens. Adds encoder_batch, compress_prefill_seconds (since
// t0), slots, generated, kv_cache_mib.
void measure_rcc_ask(const Bench& b, const std::vector<int32_t>& ids, Clock::time_point t0,
                     nlohmann::json& j) {
  const int64_t n = int64_t(ids.size());
  const RCCModel& m = b.m;
  Compressor comp(m);
  if (b.a.has("encoder-batch")) comp.set_batch_windows(b.a.get_int("encoder-batch", 1, 1, 1024));
  j["encoder_batch"] = b.a.get_int("encoder-batch", b.be.is_host() ? 1 : 4, 1, 1024);
  DecoderMemory dm(m, b.a.has("kv-8bit"));
  dm.reserve(Compressor::slot_count(ids, m.settings.window, m.settings.ratio, WindowMode::Compat) +
             int64_t(b.prompt.size()) + b.new_tokens);
  Progress p("compressing + memory prefill", n, "tokens");
  comp.stream(ids, WindowMode::Compat, [&](int64_t i, int64_t c, const void* slots, int64_t s) {
    dm.push(slots, s);
    p.update(n * (i + 1) / c);
  });
  dm.flush();
  p.finish(n);
  b.be.synchronize();
  j["compress_prefill_seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  GenerateResult r = dm.generate(b.prompt, b.gp);
  j["slots"] = dm.length();
  j["generated"] = r.ids.size();
  j["kv_cache_mib"] = double(dm.cache().bytes()) / (1 << 20);
}

// kinds plain and plain-generate: the decoder alone prefills `ids` in chunks of --chunk rows
// (plain-generate: all but the last, which generate() feeds before --new-tokens greedy tokens).
// Adds kv_cache_mib (and generated).
void measure_plain(const Bench& b, const std::vector<int32_t>& ids, nlohmann::json& j) {
  const int64_t n = int64_t(ids.size());
  const RCCModel& m = b.m;
  const int64_t chunk = b.a.get_int("chunk", b.be.is_host() ? n : 8192, 1, n);
  KVCache cache = m.decoder.new_cache(b.a.has("kv-8bit"));
  cache.reserve(n + (b.kind == "plain-generate" ? b.new_tokens : 0));
  Progress p("prefilling", n, "tokens");
  if (b.kind == "plain") {
    prefill(m.decoder, ids, chunk, cache, p);
  } else {  // all but the last token prefilled in chunks; generate() feeds the last one
    std::vector<int32_t> head(ids.begin(), ids.end() - 1);
    if (!head.empty()) prefill(m.decoder, head, chunk, cache, p);
    GenerateResult r = generate(m.decoder, {&cache}, {{ids.back()}}, b.gp)[0];
    j["generated"] = r.ids.size();
  }
  p.finish(n);
  j["kv_cache_mib"] = double(cache.bytes()) / (1 << 20);
}

// One measurement of b.kind on `ids`, printed as one JSON line: the common fields, the kind's,
// then seconds, tokens_per_s, peak_rss_mib, rss_before_mib and (devices) peak_device_gib. Out of
// (device) memory, prints the line with oom, error and peak_device_gib instead and returns false;
// other errors propagate.
bool measure(const Bench& b, const std::vector<int32_t>& ids) {
  const int64_t n = int64_t(ids.size());
  const ModelConfig& cfg = b.m.decoder.config();
  nlohmann::json j;
  j["kind"] = b.kind;
  j["tokens"] = n;
  j["hidden"] = cfg.hidden_size;
  j["layers"] = cfg.num_layers;
  j["device"] = b.be.name();
  j["encoder_precision"] = precision_name(b.m.settings.encoder_precision);
  j["load_seconds"] = b.load_s;
  b.be.synchronize();
  b.be.reset_peak();
  auto t0 = Clock::now();
  try {
    if (b.kind == "rcc") {
      measure_rcc(b, ids, j);
    } else if (b.kind == "encode") {
      measure_encode(b, ids, j);
    } else if (b.kind == "slot-error") {
      measure_slot_error(b, ids, j);
    } else if (b.kind == "rcc-ask") {
      measure_rcc_ask(b, ids, t0, j);
    } else {
      measure_plain(b, ids, j);
    }
    b.be.synchronize();
  } catch (const Error& e) {
    // Out of (device) memory at this length: report it and go on with the next length.
    const std::string what = e.what();
    if (what.find("out of") == std::string::npos && what.find("memory") == std::string::npos) throw;
    j["oom"] = true;
    j["error"] = what;
    j["peak_device_gib"] = double(b.be.peak_bytes()) / double(1 << 30);
    print_json(j);
    std::fflush(stdout);
    return false;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  j["seconds"] = secs;
  j["tokens_per_s"] = double(n) / secs;
  j["peak_rss_mib"] = peak_rss_mib();
  j["rss_before_mib"] = b.rss_before;
  if (!b.be.is_host()) j["peak_device_gib"] = double(b.be.peak_bytes()) / double(1 << 30);
  print_json(j);
  std::fflush(stdout);
  return true;
}
}  // namespace

int cmd_bench_context(int argc, char** argv) {
  Args a(argc, argv,
         {"kind", "tokens", "hidden", "layers", "heads", "vocab", "window", "ratio", "threads",
          "chunk", "model", "new-tokens", "device", "repeat", "encoder-batch", "encoder-precision",
          "text"},
         {"help", "kv-8bit", "quiet"});
  if (a.has("help")) {
    std::fputs(
        "usage: rcc bench-context --kind rcc|plain|rcc-ask|plain-generate|encode|slot-error\n"
        "       --tokens N [--model DIR | --hidden H --layers L --heads A --vocab V]\n"
        "       [--window W --ratio R] [--chunk C] [--new-tokens 32] [--device D] [--kv-8bit]\n"
        "       [--encoder-batch B] [--encoder-precision bf16|fp8] [--text FILE] [--repeat K]\n"
        "       [--threads N] [--quiet | --progress]\n",
        stdout);
    return 0;
  }
  init_runtime(a);
  const std::string kind = bench_kind(a);
  Backend& be = device_backend(a);
  const std::vector<int64_t> lengths = bench_lengths(a);
  const int64_t new_tokens = a.get_int("new-tokens", 32, 1, 1 << 20);
  const int64_t repeat = a.get_int("repeat", 1, 1, 1000);
  const double rss_before = peak_rss_mib();
  const auto l0 = Clock::now();
  const RCCModel m = bench_model(a, be);
  const double load_s = std::chrono::duration<double>(Clock::now() - l0).count();
  GenerateParams gp;
  gp.max_new_tokens = new_tokens;
  gp.min_new_tokens = new_tokens;  // fixed work: never stop early
  const std::vector<int32_t> prompt = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  const Bench b{a, kind, be, m, gp, prompt, new_tokens, load_s, rss_before};

  std::vector<int32_t> text_ids;  // --text: the model's tokens of it, repeated to each length
  if (auto text = a.get("text")) {
    auto tok = model_tokenizer(a.require("model"), std::nullopt);
    RCC_CHECK(tok, a.require("model"), ": no tokenizer.json for --text");
    text_ids = tok->encode(read_context_text(*text, "--text"));
    RCC_CHECK(!text_ids.empty(), "--text ", *text, ": no tokens");
  }
  for (const int64_t n : lengths) {
    std::vector<int32_t> ids = bench_ids(n, m.decoder.config().vocab_size);
    for (size_t i = 0; !text_ids.empty() && i < ids.size(); ++i)
      ids[i] = text_ids[i % text_ids.size()];
    for (int64_t rep = 0; rep < repeat; ++rep)
      if (!measure(b, ids)) break;  // out of memory: the next length
  }
  return 0;
}

}  // namespace rcc::cli
