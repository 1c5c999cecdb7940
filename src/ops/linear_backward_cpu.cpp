// Backward of ops::linear (see linear.h).
#include <algorithm>

#include "core/thread_pool.h"
#include "ops/linear.h"

namespace rcc::ops {

void linear_backward(const float* x, int64_t rows, const Tensor& W, const float* dy, float* dx,
                     float* dW, float* db) {
  RCC_CHECK(W.ndim() == 2 && W.dtype() == DType::F32,
            "linear_backward: weight must be a 2-D F32 tensor, got ", dtype_name(W.dtype()), " ",
            shape_str(W.shape()));
  const int64_t N = W.dim(0), K = W.dim(1);
  if (rows == 0) return;
  const float* w = W.f32();
  if (dx) {
    // dx[rows, K] += dy[rows, N] · W[N, K], in blocks of rows.
    const int64_t block = std::max<int64_t>(16, (rows + num_threads() - 1) / num_threads());
    parallel_for((rows + block - 1) / block, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * block, r1 = std::min(rows, r0 + block);
        sgemm(false, false, r1 - r0, K, N, 1.0f, dy + r0 * N, N, w, K, 1.0f, dx + r0 * K, K);
      }
    });
  }
  if (dW || db) {
    // dW[n0:n1, K] += dy[:, n0:n1]^T · x[rows, K]; db[n0:n1] += column sums of dy.
    const int64_t block = std::max<int64_t>(16, (N + num_threads() - 1) / num_threads());
    parallel_for((N + block - 1) / block, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t n0 = b * block, n1 = std::min(N, n0 + block);
        if (dW) sgemm(true, false, n1 - n0, K, rows, 1.0f, dy + n0, N, x, K, 1.0f, dW + n0 * K, K);
        if (db)
          for (int64_t r = 0; r < rows; ++r) {
            const float* g = dy + r * N;
#pragma omp simd
            for (int64_t n = n0; n < n1; ++n) db[n] += g[n];
          }
      }
    });
  }
}

}  // namespace rcc::ops
