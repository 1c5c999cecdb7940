#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "ops/activation.h"
#include "ops/vec_math.h"

namespace rcc::ops {

void gelu(float* x, int64_t n) {
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        int64_t i = b;
#if defined(__AVX2__) && defined(__FMA__)
        const __m256 k = _mm256_set1_ps(float(M_SQRT1_2)), half = _mm256_set1_ps(0.5f);
        for (; i + 8 <= e; i += 8) {
          const __m256 v = _mm256_loadu_ps(x + i);
          const __m256 phi = _mm256_fmadd_ps(half, fast_erf8(_mm256_mul_ps(v, k)), half);
          _mm256_storeu_ps(x + i, _mm256_mul_ps(v, phi));
        }
#endif
        for (; i < e; ++i) x[i] = 0.5f * x[i] * (1.0f + fast_erf(x[i] * float(M_SQRT1_2)));
      },
      4096);
}

void swiglu(const float* gu, int64_t rows, int64_t I, float* y) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* g = gu + r * 2 * I;
          const float* u = g + I;
          float* o = y + r * I;
          int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
          const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
          for (; i + 8 <= I; i += 8) {
            const __m256 gv = _mm256_loadu_ps(g + i);
            const __m256 e = fast_exp8(_mm256_sub_ps(zero, gv));
            const __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
            _mm256_storeu_ps(o + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
          }
#endif
          for (; i < I; ++i) o[i] = g[i] / (1.0f + fast_exp(-g[i])) * u[i];
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(I, 1)));
}

void add_inplace(float* y, const float* x, int64_t n) {
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] += x[i];
      },
      16384);
}

}  // namespace rcc::ops
