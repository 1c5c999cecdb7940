// Shared pieces of the Q8Rows kernels (kernels.h): rounding activation rows to int8 blocks, and the
// order in which every level sums an output element, so that all levels give the same bits:
// for each block of 32, eight int32 lanes (lane l = Σ of products l·4 .. l·4+3, exact), each
// lane accumulated in f32 over the blocks in order by fma(lane, d_w·d_x, acc), then the lanes
// summed as (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)).
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace rcc::kernels {

constexpr int64_t kQ8Block = kQuantBlock;  // core/dtype.h

// xq[r·K + k] = round(x[r, k] / xd[r·K/32 + b]) with xd = absmax of the block / 127 (0 for a zero
// block). K a multiple of 32.
void quantize_rows_q8(int64_t M, int64_t K, const float* x, int64_t ldx, int8_t* xq, float* xd);

// f16 block scales of weight rows n0.. n0+rows as f32 into dst[rows][K/32].
void widen_scales(const uint16_t* d, int64_t blocks, int64_t rows, float* dst);

}  // namespace rcc::kernels
