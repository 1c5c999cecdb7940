#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/rowwise_gemm.h"
#include "ops/vec_math.h"

namespace rcc::ops {

namespace {
constexpr int64_t kFewRows = 4;  // decoding: at most this many query rows take few_rows_attention

// s[0, n) = softmax(s[0, n)), with the vectorised exp; the same arithmetic for every row.
void softmax_in_place(float* s, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
  const float inv = 1.0f / exp_shifted_sum(s, n, mx);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}
// Attention of a few query rows (decoding): each task takes a contiguous range of heads and reads
// the keys and values position by position, its heads' part of a cache row at once (contiguous),
// rather than one head's 64 floats every kv_stride. Row r attends to the keys [lo, hi) =
// visible(r); query head h reads kv head h / group.
template <class Visible>
void few_rows_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                        int64_t kv_stride, int64_t rows, int64_t heads, int64_t hd, int64_t group,
                        float* out, int64_t out_stride, Visible visible) {
  const float scale = 1.0f / std::sqrt(float(hd));
  parallel_for(heads, [&](int64_t h0, int64_t h1) {
    thread_local std::vector<float> s;  // kept between decoding steps: no allocation per step
    const int64_t nh = h1 - h0;
    for (int64_t r = 0; r < rows; ++r) {
      const auto [lo, hi] = visible(r);
      const int64_t n = hi - lo;
      s.resize(size_t(nh * n));
      const float* qr = q + r * q_stride + h0 * hd;
      for (int64_t p = 0; p < n; ++p) {
        const float* kp = k + (lo + p) * kv_stride;
        for (int64_t h = 0; h < nh; ++h) {
          const float* kh = kp + (h0 + h) / group * hd;
          float d = 0.0f;
#pragma omp simd reduction(+ : d)
          for (int64_t i = 0; i < hd; ++i) d += qr[h * hd + i] * kh[i];
          s[size_t(h * n + p)] = scale * d;
        }
      }
      for (int64_t h = 0; h < nh; ++h) softmax_in_place(s.data() + h * n, n);
      float* o = out + r * out_stride + h0 * hd;
      std::fill(o, o + nh * hd, 0.0f);
      for (int64_t p = 0; p < n; ++p) {
        const float* vp = v + (lo + p) * kv_stride;
        for (int64_t h = 0; h < nh; ++h) {
          const float* vh = vp + (h0 + h) / group * hd;
          const float w = s[size_t(h * n + p)];
#pragma omp simd
          for (int64_t i = 0; i < hd; ++i) o[h * hd + i] += w * vh[i];
        }
      }
    }
  });
}

// The first key a query at `pos` sees (window 0: all).
int64_t first_key(int64_t pos, int64_t window) {
  return window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
}

}  // namespace

void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, int64_t rows, int64_t past, int64_t heads, int64_t hd,
                      float* out, int64_t group, int64_t window) {
  RCC_CHECK(group >= 1 && heads % group == 0, "attention: ", heads, " heads in groups of ", group);
  if (rows <= kFewRows) {
    few_rows_attention(
        q, q_stride, k, v, kv_stride, rows, heads, hd, group, out, heads * hd, [&](int64_t r) {
          return std::pair<int64_t, int64_t>(first_key(past + r, window), past + r + 1);
        });
    return;
  }
  constexpr int64_t kBlock = 64;  // queries per task
  const int64_t nblocks = (rows + kBlock - 1) / kBlock;
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t out_stride = heads * hd;
  parallel_for(heads * nblocks, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / nblocks, blk = t % nblocks, kvh = h / group;
      const int64_t r0 = blk * kBlock, r1 = std::min(rows, r0 + kBlock), m = r1 - r0;
      // Keys [lo, lo + nkeys) are visible to some query of the block.
      const int64_t lo = first_key(past + r0, window), nkeys = past + r1 - lo;
      scores.resize(size_t(m * nkeys));
      // scores[m, nkeys] = scale · Q_blk · K[lo..]^T
      sgemm(false, true, m, nkeys, hd, scale, q + r0 * q_stride + h * hd, q_stride,
            k + lo * kv_stride + kvh * hd, kv_stride, 0.0f, scores.data(), nkeys);
      for (int64_t i = 0; i < m; ++i) {
        float* s = scores.data() + i * nkeys;
        const int64_t pos = past + r0 + i;
        const int64_t a = first_key(pos, window) - lo, b = pos + 1 - lo;  // visible [a, b)
        softmax_in_place(s + a, b - a);
        std::fill(s, s + a, 0.0f);          // window
        std::fill(s + b, s + nkeys, 0.0f);  // causal mask
      }
      // out_blk[m, hd] = P · V[lo..]
      sgemm(false, false, m, hd, nkeys, 1.0f, scores.data(), nkeys, v + lo * kv_stride + kvh * hd,
            kv_stride, 0.0f, out + r0 * out_stride + h * hd, out_stride);
    }
  });
}

void prefix_attention(const float* q, const float* kp, const float* vp, int64_t P,
                      int64_t kv_stride, const PrefixSeq* seqs, int64_t n_seqs, int64_t heads,
                      int64_t hd, float* out, int64_t group, int64_t window) {
  RCC_CHECK(group >= 1 && heads % group == 0, "attention: ", heads, " heads in groups of ", group);
  constexpr int64_t kBlock = 64;  // query rows per task
  // Every query row of the group: (sequence, row within it).
  std::vector<std::pair<int64_t, int64_t>> items;
  int64_t own_max = 0;
  for (int64_t g = 0; g < n_seqs; ++g) {
    const PrefixSeq& s = seqs[g];
    RCC_CHECK(s.past >= P && s.rows >= 0, "prefix attention: sequence ", g, " at position ", s.past,
              " before the end of its prefix ", P);
    for (int64_t r = 0; r < s.rows; ++r) items.emplace_back(g, r);
    own_max = std::max(own_max, s.past + s.rows - P);
  }
  const int64_t n = int64_t(items.size()), nblocks = (n + kBlock - 1) / kBlock;
  const int64_t stride = heads * hd, width = P + own_max;
  const float scale = 1.0f / std::sqrt(float(hd));
  parallel_for(heads * nblocks, [&](int64_t t0, int64_t t1) {
    std::vector<float> qb, scores, ob;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / nblocks, blk = t % nblocks, kv = h / group * hd;
      const int64_t i0 = blk * kBlock, m = std::min(n, i0 + kBlock) - i0;
      qb.resize(size_t(m * hd));
      ob.resize(size_t(m * hd));
      scores.resize(size_t(m * width));
      for (int64_t i = 0; i < m; ++i) {
        const auto [g, r] = items[size_t(i0 + i)];
        const float* src = q + (seqs[g].q_row + r) * stride + h * hd;
        std::copy(src, src + hd, qb.data() + i * hd);
      }
      // Prefix scores of the whole block: scores[:, 0:P] = scale · Qb · Kp^T (row-independent:
      // a row's scores do not depend on the block it shares).
      rowwise_gemm_nt(m, P, hd, scale, qb.data(), hd, kp + kv, DType::F32, kv_stride, scores.data(),
                      width, false);
      for (int64_t i = 0; i < m; ++i) {
        const auto [g, r] = items[size_t(i0 + i)];
        const PrefixSeq& s = seqs[g];
        const int64_t own = s.past + r + 1 - P;  // own keys visible to this row
        const int64_t lo = first_key(s.past + r, window);
        float* row = scores.data() + i * width;
        sgemm(false, true, 1, own, hd, scale, qb.data() + i * hd, hd, s.k + kv, kv_stride, 0.0f,
              row + P, width);
        softmax_in_place(row + lo, P + own - lo);
        std::fill(row, row + lo, 0.0f);  // outside the window
      }
      // ob = P_prefix · Vp (the whole block), then each row's own part added.
      rowwise_gemm_nn(m, hd, P, scores.data(), width, vp + kv, kv_stride, ob.data(), hd, false);
      for (int64_t i = 0; i < m; ++i) {
        const auto [g, r] = items[size_t(i0 + i)];
        const PrefixSeq& s = seqs[g];
        const int64_t own = s.past + r + 1 - P;
        sgemm(false, false, 1, hd, own, 1.0f, scores.data() + i * width + P, width, s.v + kv,
              kv_stride, 1.0f, ob.data() + i * hd, hd);
        std::copy(ob.data() + i * hd, ob.data() + (i + 1) * hd,
                  out + (s.q_row + r) * stride + h * hd);
      }
    }
  });
}

}  // namespace rcc::ops
