// Helpers shared by the training kernel files (gelu_backward.cu, bias_grad.cu, scatter_add.cu,
// cross_entropy.cu, grad_norm.cu, adamw.cu): the block size of their grid-stride kernels, bf16
// packs for 8- and 16-byte accesses, and GELU's derivative (gelu_backward.cu and the fused form in
// bias_grad.cu compute the same values). Included only by .cu files, which use namespace
// cuda::train.
#pragma once
#include <algorithm>
#include <cmath>

#include "cuda/train_kernels.h"

#ifdef __CUDACC__
namespace rcc::cuda::train {

inline constexpr int kThreads = 256;
inline constexpr int64_t kMaxRows = int64_t(1) << 31;  // one block per row: gridDim.x < 2^31

// Grid for n work items with a grid-stride loop (bounded so that huge n still launches).
inline unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65536)));
}

// 8 bf16 in one 16-byte word.
union Pack8 {
  uint4 u;
  bf16 h[8];
};
// 4 bf16 in one 8-byte word.
union Pack4 {
  uint2 u;
  bf16 h[4];
};

// GELU'(x) = Φ(x) + x·φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π); f32 with the
// accurate erff/expf (no fast-math intrinsics).
__device__ __forceinline__ float gelu_grad_f(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752440f));
  const float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

}  // namespace rcc::cuda::train
#endif
