// Backward of the exact (erf) GELU (see activation.h).
#include <cmath>

#include "core/thread_pool.h"
#include "ops/activation.h"

namespace rcc::ops {

void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/sqrt(2π)
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const float xi = x[i];
          const float cdf = 0.5f * (1.0f + std::erf(xi * float(M_SQRT1_2)));
          const float pdf = kInvSqrt2Pi * std::exp(-0.5f * xi * xi);
          dx[i] = dy[i] * (cdf + xi * pdf);
        }
      },
      4096);
}

}  // namespace rcc::ops
