#include "core/thread_pool.h"
#include "ops/embedding_backward.h"

namespace rcc::ops {

void embedding_backward(const int32_t* ids, int64_t n, const float* dx, int64_t H, float* dE) {
  parallel_for(
      H,
      [&](int64_t c0, int64_t c1) {
        for (int64_t i = 0; i < n; ++i) {
          float* dst = dE + int64_t(ids[i]) * H;
          const float* src = dx + i * H;
          for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
        }
      },
      64);
}

}  // namespace rcc::ops
