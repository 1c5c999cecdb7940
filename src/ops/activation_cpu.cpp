#include <cmath>

#include "core/thread_pool.h"
#include "ops/activation.h"

namespace rcc::ops {

void gelu(float* x, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
  }, 4096);
}

void add_inplace(float* y, const float* x, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) y[i] += x[i];
  }, 16384);
}

}  // namespace rcc::ops
