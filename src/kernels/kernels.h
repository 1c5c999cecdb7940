// CPU matrix kernels, one table per level (kernels/cpu_isa.h), chosen at run time. Every kernel is
// single-threaded: callers split the work over the thread pool. Operands are f32 except the
// weights, which may be F32, BF16 or F16 (converted in registers or while packing) or Q8
// (ops/quant.h: int8 in blocks of 32 along K, one f16 scale per block).
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "kernels/cpu_isa.h"

namespace rcc::kernels {

// Row-independent products for up to a few dozen rows (decoding): each output row is computed by
// the same arithmetic whatever the other rows (contract in ops/rowwise_gemm.h). Within one level
// the summation order per element is fixed; levels differ from each other.
//   y[r, n] = alpha · Σ_k x[r, k] · W[n, k] (+ y[r, n] when accumulate)
using RowwiseNt = void (*)(int64_t M, int64_t N, int64_t K, float alpha, const float* x,
                           int64_t ldx, const void* W, DType wt, int64_t ldw, float* y, int64_t ldy,
                           bool accumulate);

// General product on packed panels (prefill, encoder windows, training):
//   C[M, N] = alpha · A · B + beta · C (+ bias[n] on every row)   (beta == 0: C is not read)
// A(i, k) = A[i·a_rs + k·a_cs] (f32); B(k, n) = B[k·b_rs + n·b_cs] of type bt (F32, BF16, F16);
// C rows ldc apart. Any strides, so both x·Wᵀ (W [N, K]: b_rs 1, b_cs K) and P·V are one call.
using Gemm = void (*)(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs,
                      int64_t a_cs, const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta,
                      float* C, int64_t ldc, const float* bias);

// Int8 weights (ops/quant.h layout) times f32 rows, row-independent like RowwiseNt:
//   y[r, n] = Σ_k x[r, k] · d[n, k/32] · q[n, k] (+ y when accumulate), K a multiple of 32.
// Each row of x is first rounded to int8 per block of 32 (scale absmax/127) into `xq`/`xd`
// scratch (M·K bytes, M·K/32 floats) where the level multiplies in int8 (VNNI); others use x as is.
using Q8Rows = void (*)(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx,
                        const int8_t* q, const uint16_t* d, float* y, int64_t ldy, bool accumulate,
                        int8_t* xq, float* xd);

// The machine's ceiling for benchmarks: `iters` rounds of independent f32 fused multiply-adds on
// the level's widest vectors (register-resident, nothing else); returns the flops done (2 per
// multiply-add per lane).
using FmaPeak = double (*)(int64_t iters);

struct Kernels {
  Level level;
  const char* q8_method;  // how Q8Rows multiplies, e.g. "int8 (avx512 vnni)"
  RowwiseNt rowwise_nt;
  Gemm gemm;
  // The same product with A (and B) rounded to bf16 and f32 accumulation (AVX512_BF16 pair dot
  // products: twice the f32 rate); null where the CPU lacks them. ops::linear uses it for bf16
  // weights with many rows (prefill, encoder windows), as llama.cpp's BF16 and rcc's CUDA backend
  // do; decoding keeps f32 activations.
  Gemm gemm_bf16;
  Q8Rows q8_rows;
  FmaPeak fma_peak;
};

// The kernels in use: active_level()'s, chosen at the first call, or use_level()'s.
const Kernels& kernels();
// Switches every later kernels() call to level `l` (≤ best_level(), checked) and returns the
// level used before: for checks that compare levels in one process, not while kernels run.
Level use_level(Level l);
// A line for `rcc info` and benchmarks: the level in use, the features it uses and those it
// leaves, e.g. "avx512 (vnni; cpu also has: bf16, amx-int8)".
std::string describe_kernels();

// A given level's kernels; the level must not exceed best_level() (checked).
const Kernels& kernels_at(Level l);

// The tables of each level (kernels_*.cpp).
const Kernels& generic_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();

}  // namespace rcc::kernels
