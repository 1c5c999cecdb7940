// rcc bench [--shapes 160m,1.4b] [--dtype f32|bf16|q8] [--prompt N] [--decode N] [--depth N]
//           [--gemm M,N,K|none] [--no-floors] [--threads N] [--json]
// Prefill and decode tokens/s of random GPT-NeoX models of Pythia shapes, each beside its floor
// on this machine (measured read bandwidth for decoding, peak FMA rate for prefill), and the GEMM
// rate of rcc's linear op beside OpenBLAS's own multi-threaded sgemm, all in one run.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "args.h"
#include "bench_floors.h"
#include "bench_shapes.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/generate.h"
#include "model/init.h"
#include "model/weights.h"
#include "ops/linear.h"
#include "output.h"

namespace rcc::cli {

namespace {

const char* kHelp =
    "usage: rcc bench [--shapes 160m,1.4b] [--dtype f32|bf16|q8] [--prompt N] [--decode N]\n"
    "                 [--depth N] [--gemm M,N,K|none] [--no-floors] [--threads N] [--json]\n"
    "Prefill and decode tokens/s on random Pythia-shaped models, and GEMM GFLOP/s of rcc's linear\n"
    "op beside OpenBLAS's own threaded sgemm on the same sizes.\n"
    "  --dtype f32|bf16|q8  weights (q8: linear layers int8 with block scales, the rest bf16)\n"
    "  --prompt N           prefill: one pass over N tokens (default 512)\n"
    "  --decode N           tokens generated one by one (default 32) ...\n"
    "  --depth N            ... after a prompt of N tokens (default 1: like llama-bench's tg)\n"
    "  --no-floors          skip measuring read bandwidth and peak FMA rate (the floors)\n";

// OpenBLAS's entry points, from the system's shared library (null when it is not installed).
struct OpenBlas {
  void (*sgemm)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                float*, int);
  void (*set_threads)(int);
  const char* (*core)();
};

const OpenBlas* openblas() {
  static const OpenBlas* b = []() -> const OpenBlas* {
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      static OpenBlas o;
      o.sgemm = reinterpret_cast<decltype(o.sgemm)>(dlsym(h, "cblas_sgemm"));
      o.set_threads =
          reinterpret_cast<decltype(o.set_threads)>(dlsym(h, "openblas_set_num_threads"));
      o.core = reinterpret_cast<decltype(o.core)>(dlsym(h, "openblas_get_corename"));
      if (o.sgemm && o.set_threads && o.core) return &o;
    }
    return nullptr;
  }();
  return b;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of `reps` timings of fn().
template <class F>
double best_time(int reps, F&& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    double t = now();
    fn();
    best = std::min(best, now() - t);
  }
  return best;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args a(argc, argv, {"shapes", "dtype", "prompt", "decode", "depth", "threads", "gemm"},
         {"json", "help", "no-floors"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  init_runtime(a);
  const std::string shapes = a.get_or("shapes", "160m,1.4b");
  const std::string dt = a.get_or("dtype", "f32");
  if (dt != "f32" && dt != "bf16" && dt != "q8")
    throw UsageError("--dtype must be f32, bf16 or q8");
  const DType wtype = dt == "f32" ? DType::F32 : DType::BF16;
  const int64_t prompt = a.get_int("prompt", 512, 1, 1 << 20);
  const int64_t decode = a.get_int("decode", 32, 1, 1 << 20);
  const int64_t depth = a.get_int("depth", 1, 1, 1 << 20);
  const bool with_gemm = a.get_or("gemm", "") != "none";
  int64_t M = 512, N = 8192, K = 2048;
  if (auto g = a.get("gemm"); g && with_gemm) {
    auto v = parse_id_list(*g, "gemm");
    if (v.size() != 3 || v[0] == 0 || v[1] == 0 || v[2] == 0)
      throw UsageError("--gemm expects three positive sizes M,N,K");
    M = v[0], N = v[1], K = v[2];
  }
  {  // unknown shapes fail before anything is measured
    std::stringstream names(shapes);
    for (std::string s; std::getline(names, s, ',');) bench_shape(s);
  }
  nlohmann::json out;
  out["threads"] = num_threads();
  out["dtype"] = dt;
  out["prompt_tokens"] = prompt;
  out["decode_tokens"] = decode;
  out["decode_depth"] = depth;
  out["kernels"] = kernels::describe_kernels();
  MachineFloors floors;
  if (!a.has("no-floors")) {
    std::fprintf(stderr, "bench: measuring the floors (read bandwidth, peak FMA rate)...\n");
    floors = measure_floors();
    out["machine"] = floors_json(floors);
    std::fprintf(stderr, "bench: %s; read %.1f GB/s, f32 FMA peak %.0f GFLOP/s on %d threads\n",
                 kernels::describe_kernels().c_str(), floors.read_gbps, floors.fma_gflops,
                 num_threads());
  }

  // GEMM: rcc linear (pool-partitioned packed GEMM per block) vs OpenBLAS threaded.
  if (with_gemm) {
    std::vector<float> x(static_cast<size_t>(M * K)), y(size_t(M * N));
    fill_normal(x.data(), M * K, 1, 1.0f);
    Tensor W = Tensor::empty(DType::F32, {N, K});
    fill_normal(W.f32(), N * K, 2, 0.02f);
    const double flops = 2.0 * double(M) * double(N) * double(K);
    ops::linear(x.data(), M, W, nullptr, y.data());
    double t_rcc = best_time(5, [&] { ops::linear(x.data(), M, W, nullptr, y.data()); });
    // OpenBLAS, when the system has it, on the same product (loaded here only: rcc does not
    // link it), and its large square sgemm: its ceiling on this machine.
    if (const OpenBlas* blas = openblas()) {
      blas->set_threads(num_threads());
      auto sgemm = [&](bool tb, int64_t m, int64_t n, int64_t k, const float* A, const float* B,
                       float* C) {
        blas->sgemm(101, 111, tb ? 112 : 111, int(m), int(n), int(k), 1.0f, A, int(k), B,
                    int(tb ? k : n), 0.0f, C, int(n));
      };
      sgemm(true, M, N, K, x.data(), W.f32(), y.data());
      const double t_blas =
          best_time(5, [&] { sgemm(true, M, N, K, x.data(), W.f32(), y.data()); });
      const int64_t S = 2048;
      std::vector<float> A(size_t(S * S)), B(size_t(S * S)), C(size_t(S * S));
      fill_normal(A.data(), S * S, 3, 1.0f);
      fill_normal(B.data(), S * S, 4, 1.0f);
      const double t_sq =
          best_time(3, [&] { sgemm(false, S, S, S, A.data(), B.data(), C.data()); });
      blas->set_threads(1);
      out["gemm"]["openblas_core"] = blas->core();
      out["gemm"]["openblas_threaded_gflops"] = flops / t_blas / 1e9;
      out["gemm"]["openblas_sgemm_2048_gflops"] = 2.0 * S * S * S / t_sq / 1e9;
      std::fprintf(stderr,
                   "gemm: OpenBLAS (%s kernels) threaded %.1f GFLOP/s, 2048^3 %.1f GFLOP/s\n",
                   blas->core(), flops / t_blas / 1e9, 2.0 * S * S * S / t_sq / 1e9);
    }
    if (wtype == DType::BF16) {
      Tensor Wb = W.to(DType::BF16);
      double t_bf = best_time(5, [&] { ops::linear(x.data(), M, Wb, nullptr, y.data()); });
      out["gemm"]["rcc_linear_bf16_gflops"] = flops / t_bf / 1e9;
    }
    out["gemm"]["shape"] = {M, N, K};
    out["gemm"]["rcc_linear_gflops"] = flops / t_rcc / 1e9;
    std::fprintf(stderr, "gemm %lldx%lldx%lld: rcc linear %.1f GFLOP/s\n", (long long)M,
                 (long long)N, (long long)K, flops / t_rcc / 1e9);
  }

  std::stringstream ss(shapes);
  std::string shape;
  while (std::getline(ss, shape, ',')) {
    ModelConfig cfg = bench_shape(shape);
    std::fprintf(stderr, "bench %s: initialising %.0fM random parameters (%s)...\n", shape.c_str(),
                 double(cfg.parameter_count()) / 1e6, dt.c_str());
    ModelWeights w = init_random_weights(cfg, wtype, 7);
    if (dt == "q8") w.quantize_linear_q8();
    // Bytes one decoding step reads: every weight but the input embedding (one row of it).
    // Flops per prompt token: the layers' matrices (the LM head runs on the last row only).
    double weight_bytes = 0, layer_flops = 0;
    for (const auto& [name, t] : w.named()) {
      if (name == "gpt_neox.embed_in.weight") continue;
      weight_bytes += double(t.nbytes()) + (t.quantized() ? double(t.block_scales().nbytes()) : 0);
      if (t.ndim() == 2 && name != "embed_out.weight") layer_flops += 2.0 * double(t.numel());
    }
    Transformer model(cfg, std::move(w));
    auto tokens = [&](int64_t n) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919) % cfg.vocab_size);
      return ids;
    };
    // Prefill: one pass over the prompt (logits of the last row only, as generation does).
    GenerateParams gp;
    gp.max_new_tokens = 1;
    generate(model, tokens(std::min<int64_t>(prompt, 16)), gp);
    const std::vector<int32_t> ids = tokens(prompt);
    const double t_prefill = best_time(3, [&] { generate(model, ids, gp); });
    // Decode: `decode` tokens after a prompt of `depth`, that prompt's own pass subtracted.
    const std::vector<int32_t> head = tokens(depth);
    const double t_head = best_time(3, [&] { generate(model, head, gp); });
    gp.max_new_tokens = decode + 1;
    const double t_total = best_time(2, [&] { generate(model, head, gp); });
    const double t_decode = std::max(1e-9, t_total - t_head);
    const double flops_per_token = layer_flops;
    // KV cache (f32) read per step at the mean position of the decoded tokens.
    const double kv_bytes = 2.0 * double(cfg.num_layers) * double(cfg.hidden_size) * 4.0 *
                            (double(depth) + double(decode) / 2.0);
    nlohmann::json r;
    r["shape"] = shape;
    r["parameters"] = cfg.parameter_count();
    r["prefill_tokens_per_s"] = double(prompt) / t_prefill;
    r["prefill_gflops"] = flops_per_token * double(prompt) / t_prefill / 1e9;
    r["decode_tokens_per_s"] = double(decode) / t_decode;
    r["decode_bytes_per_token"] = weight_bytes + kv_bytes;
    if (floors.read_gbps > 0) {
      // Floors: decode at the read bandwidth; prefill at the FMA peak (weights' flops only).
      r["decode_floor_tokens_per_s"] = floors.read_gbps * 1e9 / (weight_bytes + kv_bytes);
      r["prefill_floor_tokens_per_s"] = floors.fma_gflops * 1e9 / flops_per_token;
    }
    out["models"].push_back(r);
    std::fprintf(stderr,
                 "bench %s: prefill %lld tokens %.1f tok/s (%.1f GFLOP/s), decode %.2f tok/s "
                 "(%.0f MB/token)\n",
                 shape.c_str(), (long long)prompt, double(prompt) / t_prefill,
                 flops_per_token * double(prompt) / t_prefill / 1e9, double(decode) / t_decode,
                 (weight_bytes + kv_bytes) / 1e6);
  }
  print_json(out, 2);  // with or without --json
  return 0;
}

}  // namespace rcc::cli
