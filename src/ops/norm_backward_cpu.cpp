// Backward of ops::layer_norm (see norm.h). With x̂ = (x − μ)·r, r = 1/sqrt(var + eps), y = x̂·w + b:
//   dx = r · (g − mean(g) − x̂ · mean(g · x̂)),  g = dy · w;   dw = Σ_rows dy · x̂;   db = Σ_rows dy.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/norm.h"

namespace rcc::ops {

void layer_norm_backward(const float* x, int64_t rows, int64_t H, const float* w, float eps,
                         const float* dy, float* dx, float* dw, float* db) {
  // Per-row mean and 1/std, exactly as the forward computes them.
  std::vector<float> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * H;
          double sum = 0;
          for (int64_t i = 0; i < H; ++i) sum += xr[i];
          const double mu = sum / double(H);
          double sq = 0;
          for (int64_t i = 0; i < H; ++i) sq += (xr[i] - mu) * (xr[i] - mu);
          mean[size_t(r)] = float(mu);
          rstd[size_t(r)] = float(1.0 / std::sqrt(sq / double(H) + double(eps)));
        }
      },
      4);
  if (dx) {
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * H;
            const float* gr = dy + r * H;
            const float m = mean[size_t(r)], s = rstd[size_t(r)];
            double g_sum = 0, gx_sum = 0;
            for (int64_t i = 0; i < H; ++i) {
              const double g = double(gr[i]) * double(w[i]);
              g_sum += g;
              gx_sum += g * double((xr[i] - m) * s);
            }
            const float g_mean = float(g_sum / double(H)), gx_mean = float(gx_sum / double(H));
            float* dr = dx + r * H;
#pragma omp simd
            for (int64_t i = 0; i < H; ++i) {
              const float xhat = (xr[i] - m) * s;
              dr[i] += s * (gr[i] * w[i] - g_mean - xhat * gx_mean);
            }
          }
        },
        4);
  }
  if (dw || db) {
    parallel_for(
        H,
        [&](int64_t c0, int64_t c1) {
          for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + r * H;
            const float* gr = dy + r * H;
            const float m = mean[size_t(r)], s = rstd[size_t(r)];
            if (dw)
              for (int64_t i = c0; i < c1; ++i) dw[i] += gr[i] * ((xr[i] - m) * s);
            if (db)
              for (int64_t i = c0; i < c1; ++i) db[i] += gr[i];
          }
        },
        64);
  }
}

}  // namespace rcc::ops
