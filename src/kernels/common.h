// Pieces every level's kernels (kernels_*.cpp) share: one weight element as f32, rounding
// activation rows to int8 blocks and the loop of the Q8Rows kernels (kernels.h), whose per-element
// order is the same on every level, so that all levels give the same bits:
// for each block of 32, eight int32 lanes (lane l = Σ of products l·4 .. l·4+3, exact), each
// lane accumulated in f32 over the blocks in order by fma(lane, d_w·d_x, acc), then the lanes
// summed as (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace rcc::kernels {

// Element i of a weight array of type t (F32, BF16 or F16) as f32.
inline float weight_at(const void* W, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(W)[i];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(W)[i]);
    default:
      return f16_to_f32(static_cast<const uint16_t*>(W)[i]);
  }
}

constexpr int64_t kQ8Block = kQuantBlock;  // core/dtype.h

// xq[r·K + k] = round(x[r, k] / xd[r·K/32 + b]) with xd = absmax of the block / 127 (0 for a zero
// block). K a multiple of 32.
void quantize_rows_q8(int64_t M, int64_t K, const float* x, int64_t ldx, int8_t* xq, float* xd);

// One tile of a Q8Rows product: `rows` activation rows (int8 blocks xr, their scales xdr) against
// 4 weight rows (wr, their widened scales dwr) into yr[i][0..cols).
struct Q8Tile {
  int64_t rows, blocks, cols;
  const int8_t* xr[4];
  const float* xdr[4];
  const int8_t* wr[4];
  const float* dwr[4];
  float* yr[4];
  bool accumulate;
};

// The Q8Rows loop (kernels.h): rounds x to int8 blocks, then calls tile(t) for tiles of up to
// kMaxRows (≤ 4) rows × 4 weight rows; a short tile repeats its last weight row (not written).
// widen(d, n, out) turns n f16 scales into f32.
template <int kMaxRows, class TileFn, class WidenFn>
void q8_rows_tiled(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const int8_t* q,
                   const uint16_t* d, float* y, int64_t ldy, bool accumulate, int8_t* xq, float* xd,
                   TileFn tile, WidenFn widen) {
  static_assert(kMaxRows >= 1 && kMaxRows <= 4);
  const int64_t blocks = K / kQ8Block;
  quantize_rows_q8(M, K, x, ldx, xq, xd);
  thread_local std::vector<float> dw;
  if (int64_t(dw.size()) < 4 * blocks) dw.resize(size_t(4 * blocks));
  Q8Tile t{};
  t.blocks = blocks;
  t.accumulate = accumulate;
  for (int64_t n0 = 0; n0 < N; n0 += 4) {
    t.cols = std::min<int64_t>(4, N - n0);
    widen(d + n0 * blocks, blocks * t.cols, dw.data());
    for (int j = 0; j < 4; ++j) {
      const int64_t c = std::min<int64_t>(j, t.cols - 1);
      t.wr[j] = q + (n0 + c) * K;
      t.dwr[j] = dw.data() + c * blocks;
    }
    for (int64_t r0 = 0; r0 < M; r0 += kMaxRows) {
      t.rows = std::min<int64_t>(kMaxRows, M - r0);
      for (int i = 0; i < 4; ++i) {
        const int64_t r = r0 + std::min<int64_t>(i, t.rows - 1);
        t.xr[i] = xq + r * K;
        t.xdr[i] = xd + r * blocks;
        t.yr[i] = y + r * ldy + n0;
      }
      tile(t);
    }
  }
}

}  // namespace rcc::kernels
