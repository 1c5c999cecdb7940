// rcc_cuda_fp8_check: the CUDA backend's FP8 linear layers (spec §2.8) on fresh random inputs,
// then their timings against bf16. Needs a Hopper GPU; not a ctest (CI has none).
//
//   build-cuda/rcc_cuda_fp8_check [--no-bench] [--device N]
//
// One line per check, "PASS|FAIL name value tol":
//   quantize_*    the share of elements whose E4M3 code is not the nearest (ties: even) code of
//                 x · 448 / max|x| as the host computes it (core/dtype.h f32_to_e4m3): 0
//                 allowed; and the scale's relative error against max|x| / 448: 1e-6 (one f32
//                 division);
//   linear_fp8_*  ‖y − ref‖ / ‖ref‖ with ref the exact product of the host-quantised operands
//                 (double sums, bias rounded to bf16 as the epilogue takes it): 1e-2, the bf16
//                 rounding of the output (RMS ≈ 1e-3) plus f32 accumulation order;
//   linear_fp8_vs_bf16_*  the same against the unquantised bf16 product: 6e-2. E4M3 keeps 3
//                 mantissa bits: each operand element is off by up to 2^-4 of itself, ≈ 2.6% RMS
//                 for Gaussian data, ≈ 3.7% for the product of two such operands; measured
//                 values are printed;
//   errors_*      refusals (1 = the expected exception was thrown).
// Then "TIME name median_ms TFLOP/s" lines: bf16 products against FP8 ones (quantisation of the
// input included, and alone), f32 and fast accumulation. Exit status 1 when any check fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "check_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "cuda/kernels.h"

using namespace rcc;
using namespace rcc::gpu_check;

namespace {

std::mt19937_64 g_rng(20261206);
constexpr int kTimedRuns = 20;  // per timing (the median is printed)

// The host's quantisation, as fp8.cu specifies it: the codes of x and its one scale.
float quantize_host(const std::vector<float>& x, std::vector<uint8_t>* q) {
  float amax = 0.0f;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  const float inv = amax > 0 ? 448.0f / amax : 1.0f;
  q->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) (*q)[i] = f32_to_e4m3(x[i] * inv);
  return amax > 0 ? amax / 448.0f : 1.0f;
}

void check_quantize(Gpu& g) {
  const int sms = [] {
    int d = 0, n = 0;
    RCC_CUDA_CHECK(cudaGetDevice(&d));
    RCC_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, d));
    return n;
  }();
  for (int64_t n : {int64_t(16), int64_t(40), int64_t(2048 * 64), int64_t(2064 * 33) + 3,
                    int64_t(8192) * 4096, int64_t(0)}) {
    for (bool zeros : {false, true}) {
      if (zeros && n > 4096) continue;
      std::vector<float> x =
          zeros ? std::vector<float>(size_t(n), 0.0f) : round_bf16(randn(g_rng, size_t(n), 0.7f));
      if (!zeros && n > 100) x[size_t(n / 3)] = 37.5f;  // an outlier sets the scale
      DeviceBuffer dx = g.upload(x);
      Dev dq(static_cast<size_t>(n)), ds(8);
      dq.poison(g.stream);
      ds.poison(g.stream);
      cuda::launch_quantize_e4m3(static_cast<const cuda::bf16*>(dx.get()), n, dq.as<uint8_t>(),
                                 ds.as<float>(), ds.as<unsigned>() + 1, sms, g.stream);
      std::vector<uint8_t> q(static_cast<size_t>(n));
      float s = 0;
      RCC_CUDA_CHECK(cudaMemcpyAsync(q.data(), dq.p, q.size(), cudaMemcpyDeviceToHost, g.stream));
      RCC_CUDA_CHECK(cudaMemcpyAsync(&s, ds.p, 4, cudaMemcpyDeviceToHost, g.stream));
      RCC_CUDA_CHECK(cudaStreamSynchronize(g.stream));
      std::vector<uint8_t> hq;
      const float hs = quantize_host(x, &hq);
      int64_t wrong = 0;
      for (size_t i = 0; i < q.size(); ++i) wrong += q[i] != hq[i];
      const std::string tag = str_cat(n, zeros ? "_zeros" : "");
      report("quantize_codes_" + tag, n ? double(wrong) / double(n) : 0.0, 0);
      report("quantize_scale_" + tag, std::fabs(double(s) - hs) / hs, 1e-6);
    }
  }
}

void check_linear(Gpu& g) {
  struct Case {
    int64_t rows, K, N, x_offset_rows;
  };
  const Case cases[] = {{1, 64, 96, 0},       {7, 128, 48, 0},     {100, 2048, 6144, 0},
                        {256, 2048, 2048, 1}, {64, 8192, 2048, 0}, {513, 2048, 1024, 0}};
  for (const Case& c : cases) {
    const std::vector<float> W = round_bf16(randn(g_rng, size_t(c.N * c.K), 0.02f));
    const std::vector<float> x = round_bf16(randn(g_rng, size_t((c.rows + c.x_offset_rows) * c.K)));
    const std::vector<float> bias = randn(g_rng, size_t(c.N), 0.1f);
    const std::vector<float> y0 = round_bf16(randn(g_rng, size_t(c.rows * c.N), 0.5f));
    const Tensor Wt = Tensor::from_f32(W, {c.N, c.K});
    const Tensor W8 = g.be->prepare_weight_fp8(Wt);
    const Tensor bd = g.be->prepare_weight(Tensor::from_f32(bias, {c.N}));
    DeviceBuffer dx = g.upload(x);
    const void* gx = act_at(*g.be, static_cast<const void*>(dx.get()), c.x_offset_rows * c.K);
    const std::vector<float> xs(x.begin() + c.x_offset_rows * c.K, x.end());
    std::vector<uint8_t> qw, qx;
    const float sw = quantize_host(W, &qw), sx = quantize_host(xs, &qx);
    const size_t ny = size_t(c.rows * c.N);
    // The products once: of the quantised operands (dequantised exactly) and of the bf16 ones.
    std::vector<float> dqx(qx.size()), dqw(qw.size());
    for (size_t i = 0; i < qx.size(); ++i) dqx[i] = e4m3_to_f32(qx[i]);
    for (size_t i = 0; i < qw.size(); ++i) dqw[i] = e4m3_to_f32(qw[i]);
    std::vector<double> prod_q(ny), prod_b(ny);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t n = 0; n < c.N; ++n) {
        double sq = 0, sb = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          sq += double(dqx[size_t(r * c.K + k)]) * double(dqw[size_t(n * c.K + k)]);
          sb += double(xs[size_t(r * c.K + k)]) * double(W[size_t(n * c.K + k)]);
        }
        prod_q[size_t(r * c.N + n)] = sq * double(sx) * double(sw);
        prod_b[size_t(r * c.N + n)] = sb;
      }
    for (bool with_bias : {false, true}) {
      for (bool acc : {false, true}) {
        std::vector<float> ref(ny), plain(ny);
        for (int64_t r = 0; r < c.rows; ++r)
          for (int64_t n = 0; n < c.N; ++n) {
            const size_t i = size_t(r * c.N + n);
            const double b = with_bias ? double(bf16_to_f32(f32_to_bf16(bias[size_t(n)]))) : 0.0;
            const double a = acc ? double(y0[i]) : 0.0;
            ref[i] = float(prod_q[i] + b + a);
            plain[i] = float(prod_b[i] + b + a);
          }
        DeviceBuffer dy = g.upload(y0);
        if (!acc) RCC_CUDA_CHECK(cudaMemsetAsync(dy.get(), 0xFF, dy.bytes(), g.stream));
        g.be->linear(gx, c.rows, W8, with_bias ? &bd : nullptr, dy.get(), acc);
        const std::vector<float> y = g.download(dy.get(), ny);
        const std::string tag =
            str_cat(c.rows, "x", c.K, "x", c.N, c.x_offset_rows ? "_offset" : "",
                    with_bias ? "_bias" : "", acc ? "_acc" : "");
        report("linear_fp8_" + tag, rel_err(y, ref), 1e-2);
        // Against bf16 without the accumulated part (which both share exactly).
        if (!acc) report("linear_fp8_vs_bf16_" + tag, rel_err(y, plain), 6e-2);
      }
    }
  }
}

void check_errors(Gpu& g) {
  auto throws = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error&) {
      return 1.0;
    }
    return 0.0;
  };
  const Tensor odd = Tensor::from_f32(std::vector<float>(8 * 40, 0.5f), {8, 40});
  report("errors_k_not_multiple_of_16",
         throws([&] { (void)g.be->prepare_weight_fp8(odd); }) == 1.0 ? 0 : 1, 0);
  const Tensor w = Tensor::from_f32(std::vector<float>(16 * 32, 0.5f), {16, 32});
  report("errors_cpu_refuses_fp8",
         throws([&] { (void)cpu_backend().prepare_weight_fp8(w); }) == 1.0 ? 0 : 1, 0);
  const Tensor w8 = g.be->prepare_weight_fp8(w);
  std::vector<float> out(16);
  report("errors_fp8_lm_head",
         throws([&] {
           DeviceBuffer x(*g.be, 64);
           g.be->linear_f32_host(x.get(), 1, w8, out.data());
         }) == 1.0
             ? 0
             : 1,
         0);
}

// bf16 against FP8 on the encoder's shapes (Pythia-1.4b: H 2048, I 8192; 4 windows of 2048 rows
// per pass) and a square 8192³ product; `tag` names the accumulation mode of g's backend.
void bench(Gpu& g, const std::string& tag) {
  struct Shape {
    int64_t rows, K, N;
  };
  for (const Shape s :
       {Shape{8192, 8192, 8192}, Shape{8192, 2048, 6144}, Shape{8192, 2048, 2048},
        Shape{8192, 2048, 8192}, Shape{8192, 8192, 2048}, Shape{2048, 2048, 6144}}) {
    const std::vector<float> wv = randn(g_rng, size_t(s.N * s.K), 0.02f);
    const Tensor Wt = Tensor::from_f32(wv, {s.N, s.K});
    const Tensor Wb = g.be->prepare_weight(Wt), W8 = g.be->prepare_weight_fp8(Wt);
    const Tensor bd =
        g.be->prepare_weight(Tensor::from_f32(std::vector<float>(size_t(s.N), 0.01f), {s.N}));
    DeviceBuffer x = g.upload(randn(g_rng, size_t(s.rows * s.K))),
                 y(*g.be, size_t(s.rows * s.N) * 2);
    Dev q(static_cast<size_t>(s.rows * s.K)), sc(8);
    int sms = 0;
    RCC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const double flop = 2.0 * double(s.rows) * double(s.N) * double(s.K);
    const double tb = time_ms(
        g, [&] { g.be->linear(x.get(), s.rows, Wb, &bd, y.get(), false); }, 3, kTimedRuns);
    const double t8 = time_ms(
        g, [&] { g.be->linear(x.get(), s.rows, W8, &bd, y.get(), false); }, 3, kTimedRuns);
    const double tq = time_ms(
        g,
        [&] {
          cuda::launch_quantize_e4m3(static_cast<const cuda::bf16*>(x.get()), s.rows * s.K,
                                     q.as<uint8_t>(), sc.as<float>(), sc.as<unsigned>() + 1, sms,
                                     g.stream);
        },
        3, kTimedRuns);
    const std::string name = str_cat(s.rows, "x", s.K, "x", s.N);
    std::printf("TIME linear_bf16_%s %.3f ms %.1f TFLOP/s\n", name.c_str(), tb, flop / tb / 1e9);
    std::printf(
        "TIME linear_fp8%s_%s %.3f ms %.1f TFLOP/s (%.2fx bf16; quantising x %.3f ms, "
        "%.0f GB/s)\n",
        tag.c_str(), name.c_str(), t8, flop / t8 / 1e9, tb / t8, tq,
        5.0 * double(s.rows) * double(s.K) / tq / 1e6);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool run_bench = true;
  int dev = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-bench")) {
      run_bench = false;
    } else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
      dev = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: rcc_cuda_fp8_check [--no-bench] [--device N]\n");
      return 2;
    }
  }
  try {
    Gpu g(dev);
    std::printf("device: %s\n", g.be->name().c_str());
    check_quantize(g);
    check_linear(g);
    check_errors(g);
    std::printf("SUMMARY %d/%d checks passed\n", g_total - g_fail, g_total);
    if (run_bench) {
      bench(g, "");
      std::unique_ptr<Gpu> fast;
      {
        SettingsScope s([](RuntimeSettings& r) { r.cuda_fp8_fast_accum = true; });
        fast = std::make_unique<Gpu>(dev);
      }
      bench(*fast, "_fastaccum");
    }
    g.be->synchronize();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return g_fail ? 1 : 0;
}
