// Backward of causal attention for a whole sequence from position 0 (see attention.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/vec_math.h"

namespace rcc::ops {

void causal_attention_backward(const float* q, const float* k, const float* v, const float* dout,
                               int64_t rows, int64_t heads, int64_t hd, float* dq, float* dk,
                               float* dv) {
  constexpr int64_t kBlock = 64;  // queries per step, as in the forward
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t H = heads * hd;
  parallel_for(heads, [&](int64_t h0, int64_t h1) {
    std::vector<float> p, dp;
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t o = h * hd;
      for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
        const int64_t r1 = std::min(rows, r0 + kBlock), m = r1 - r0, nkeys = r1;
        p.resize(size_t(m * nkeys));
        dp.resize(size_t(m * nkeys));
        // P[m, nkeys] = softmax(scale · Q_blk · K^T) with the causal mask (as the forward).
        sgemm(false, true, m, nkeys, hd, scale, q + r0 * H + o, H, k + o, H, 0.0f, p.data(), nkeys);
        // dP[m, nkeys] = dout_blk · V^T
        sgemm(false, true, m, nkeys, hd, 1.0f, dout + r0 * H + o, H, v + o, H, 0.0f, dp.data(),
              nkeys);
        for (int64_t i = 0; i < m; ++i) {
          float* pr = p.data() + i * nkeys;
          float* dr = dp.data() + i * nkeys;
          const int64_t visible = r0 + i + 1;
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, pr[j]);
          const float inv = 1.0f / exp_shifted_sum(pr, visible, mx);
          double d = 0;
          for (int64_t j = 0; j < visible; ++j) {
            pr[j] *= inv;
            d += double(pr[j]) * double(dr[j]);
          }
          const float df = float(d);
          // dS overwrites dP.
          for (int64_t j = 0; j < visible; ++j) dr[j] = pr[j] * (dr[j] - df);
          std::fill(pr + visible, pr + nkeys, 0.0f);
          std::fill(dr + visible, dr + nkeys, 0.0f);
        }
        // dq_blk += scale · dS · K
        sgemm(false, false, m, hd, nkeys, scale, dp.data(), nkeys, k + o, H, 1.0f, dq + r0 * H + o,
              H);
        // dk[0:nkeys] += scale · dS^T · Q_blk;  dv[0:nkeys] += P^T · dout_blk
        sgemm(true, false, nkeys, hd, m, scale, dp.data(), nkeys, q + r0 * H + o, H, 1.0f, dk + o,
              H);
        sgemm(true, false, nkeys, hd, m, 1.0f, p.data(), nkeys, dout + r0 * H + o, H, 1.0f, dv + o,
              H);
      }
    }
  });
}

}  // namespace rcc::ops
