// Matrix products whose every output row is computed by the same arithmetic whatever the other
// rows (the batched decoding contract, model/decode_batch.h): a row gives the same bits in a
// product of 1 row and of 64. BLAS does not promise this (OpenBLAS picks kernels by the row count).
//
// Each output element has a fixed summation order: nt: 8 lane accumulators over k (lane i takes
// k ≡ i mod 8, in order, fused multiply-add), summed pairwise in a fixed tree, then the k tail in
// order; nn: one accumulator per output element over j in order. Rows and columns are tiled only
// to share loads, never to change an element's order. Single-threaded (callers split the work).
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace rcc::ops {

// y[r, n] = alpha · Σ_k x[r, k] · W[n, k] (+ y[r, n] when accumulate), r < M, n < N. W rows of K
// elements of `wtype` (F32, BF16 or F16) ldw apart; x rows ldx apart, y rows ldy apart (floats).
void rowwise_gemm_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                     const void* W, DType wtype, int64_t ldw, float* y, int64_t ldy,
                     bool accumulate);

// y[r, d] = Σ_j p[r, j] · V[j, d] (+ y[r, d] when accumulate), r < M, d < D, j < J (f32).
void rowwise_gemm_nn(int64_t M, int64_t D, int64_t J, const float* p, int64_t ldp, const float* V,
                     int64_t ldv, float* y, int64_t ldy, bool accumulate);

}  // namespace rcc::ops
