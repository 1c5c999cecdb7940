// Backward of ops::rms_norm (see norm.h). With r = 1/sqrt(mean(x²) + eps), y = w · x · r:
//   dx = r · (g − x · r² · mean(g · x)),  g = dy · w;   dw = Σ_rows dy · x · r.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/norm.h"

namespace rcc::ops {

void rms_norm_backward(const float* x, int64_t rows, int64_t H, const float* w, float eps,
                       const float* dy, float* dx, float* dw, int64_t x_stride, int64_t dy_stride,
                       int64_t dx_stride) {
  if (x_stride < 0) x_stride = H;
  if (dy_stride < 0) dy_stride = H;
  if (dx_stride < 0) dx_stride = H;
  // Per-row 1/rms, exactly as the forward computes it.
  std::vector<float> rinv(static_cast<size_t>(rows));
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * x_stride;
          double sq = 0;
          for (int64_t i = 0; i < H; ++i) sq += double(xr[i]) * xr[i];
          rinv[size_t(r)] = float(1.0 / std::sqrt(sq / double(H) + double(eps)));
        }
      },
      4);
  if (dx) {
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * x_stride;
            const float* gr = dy + r * dy_stride;
            const float s = rinv[size_t(r)];
            double gx = 0;
            for (int64_t i = 0; i < H; ++i) gx += double(gr[i]) * w[i] * xr[i];
            const float k = float(gx / double(H)) * s * s;
            float* dr = dx + r * dx_stride;
#pragma omp simd
            for (int64_t i = 0; i < H; ++i) dr[i] += s * (gr[i] * w[i] - xr[i] * k);
          }
        },
        4);
  }
  if (dw) {
    parallel_for(
        H,
        [&](int64_t c0, int64_t c1) {
          for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + r * x_stride;
            const float* gr = dy + r * dy_stride;
            const float s = rinv[size_t(r)];
            for (int64_t i = c0; i < c1; ++i) dw[i] += gr[i] * (xr[i] * s);
          }
        },
        64);
  }
}

}  // namespace rcc::ops
