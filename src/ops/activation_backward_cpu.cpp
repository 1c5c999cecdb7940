// Backward of the exact (erf) GELU (see activation.h): gelu'(x) = Φ(x) + x·φ(x).
// Written branch-free so the loop vectorises without -fno-trapping-math: Φ via the
// Abramowitz–Stegun 7.1.26 erf approximation (absolute error ≤ 1.5e-7, i.e. ≤ 7.5e-8 on Φ) and
// exp of non-positive arguments by a degree-6 polynomial (relative error ~2e-7).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "core/thread_pool.h"
#include "ops/activation.h"

namespace rcc::ops {

namespace {

// exp(a) for a <= 0 (a < -87 gives exp(-87) ≈ 1.6e-38, i.e. 0 at the scale of any use here).
inline float exp_nonpos(float a) {
  a = 0.5f * (a - 87.0f + std::fabs(a + 87.0f));  // max(a, -87) without a branch
  constexpr float kRound = 12582912.0f;           // 1.5·2^23: adding it rounds to an integer
  const float n = (a * 1.44269504088896341f + kRound) - kRound;
  float r = a - n * 0.693359375f;  // ln2 split in two for an exact reduction
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

}  // namespace

void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/sqrt(2π)
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          const float xi = x[i];
          const float z = std::fabs(xi) * float(M_SQRT1_2);
          const float t = 1.0f / (1.0f + 0.3275911f * z);
          const float poly =
              t *
              (0.254829592f +
               t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
          const float erf_abs = 1.0f - poly * exp_nonpos(-z * z);
          const float cdf = 0.5f * (1.0f + std::copysign(erf_abs, xi));
          const float pdf = kInvSqrt2Pi * exp_nonpos(-0.5f * xi * xi);
          dx[i] = dy[i] * (cdf + xi * pdf);
        }
      },
      4096);
}

void swiglu_backward(const float* gu, const float* dy, float* dgu, int64_t rows, int64_t I) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* g = gu + r * 2 * I;
          const float* u = g + I;
          const float* d = dy + r * I;
          float* dg = dgu + r * 2 * I;
          float* du = dg + I;
          for (int64_t i = 0; i < I; ++i) {
            const float s = 1.0f / (1.0f + std::exp(-g[i]));  // σ(g)
            dg[i] = d[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
            du[i] = d[i] * (g[i] * s);
          }
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(I, 1)));
}

}  // namespace rcc::ops
