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
