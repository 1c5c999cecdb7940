#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/vec_math.h"

namespace rcc::ops {

void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, int64_t rows, int64_t past, int64_t heads, int64_t hd,
                      float* out) {
  constexpr int64_t kBlock = 64;  // queries per task
  const int64_t nblocks = (rows + kBlock - 1) / kBlock;
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t out_stride = heads * hd;
  parallel_for(heads * nblocks, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / nblocks, blk = t % nblocks;
      const int64_t r0 = blk * kBlock, r1 = std::min(rows, r0 + kBlock), m = r1 - r0;
      const int64_t nkeys = past + r1;  // keys visible to the last query of the block
      scores.resize(size_t(m * nkeys));
      // scores[m, nkeys] = scale · Q_blk · K^T
      sgemm(false, true, m, nkeys, hd, scale, q + r0 * q_stride + h * hd, q_stride, k + h * hd,
            kv_stride, 0.0f, scores.data(), nkeys);
      for (int64_t i = 0; i < m; ++i) {
        float* s = scores.data() + i * nkeys;
        const int64_t visible = past + r0 + i + 1;
        float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, s[j]);
        const float inv = 1.0f / exp_shifted_sum(s, visible, mx);
#pragma omp simd
        for (int64_t j = 0; j < visible; ++j) s[j] *= inv;
        std::fill(s + visible, s + nkeys, 0.0f);  // causal mask
      }
      // out_blk[m, hd] = P · V
      sgemm(false, false, m, hd, nkeys, 1.0f, scores.data(), nkeys, v + h * hd, kv_stride, 0.0f,
            out + r0 * out_stride + h * hd, out_stride);
    }
  });
}

}  // namespace rcc::ops
