#include <cmath>

#include "core/thread_pool.h"
#include "ops/norm.h"

namespace rcc::ops {

void layer_norm(const float* x, int64_t rows, int64_t H, const float* w, const float* b, float eps,
                float* y) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * H;
          float* yr = y + r * H;
          // Two passes, accumulated in double: exact enough for 1e-5-level parity at any H.
          double sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t i = 0; i < H; ++i) sum += xr[i];
          const double mean = sum / double(H);
          double sq = 0;
#pragma omp simd reduction(+ : sq)
          for (int64_t i = 0; i < H; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
          const float m = float(mean);
          const float inv = float(1.0 / std::sqrt(sq / double(H) + double(eps)));
#pragma omp simd
          for (int64_t i = 0; i < H; ++i) yr[i] = (xr[i] - m) * inv * w[i] + b[i];
        }
      },
      4);
}

void rms_norm(const float* x, int64_t rows, int64_t H, const float* w, float eps, float* y,
              int64_t x_stride, int64_t y_stride) {
  if (x_stride < 0) x_stride = H;
  if (y_stride < 0) y_stride = H;
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * x_stride;
          float* yr = y + r * y_stride;
          double sq = 0;  // in double, as layer_norm
#pragma omp simd reduction(+ : sq)
          for (int64_t i = 0; i < H; ++i) sq += double(xr[i]) * xr[i];
          const float inv = float(1.0 / std::sqrt(sq / double(H) + double(eps)));
#pragma omp simd
          for (int64_t i = 0; i < H; ++i) yr[i] = w[i] * (xr[i] * inv);
        }
      },
      4);
}

}  // namespace rcc::ops
