// LayerNorm over rows of bf16 activations: f32 two-pass mean and (biased) variance, f32 weights.
#include <algorithm>

#include "cuda/cuda_kernels.h"

namespace rcc::cuda {
namespace {

// One block per row. x and y may alias: every thread writes only the elements it reads, and all
// reads of the statistics passes finish before the block reductions' barriers.
__global__ void layer_norm_kernel(const bf16* x, int64_t H, const float* w, const float* b,
                                  float eps, bf16* y) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const bf16* xr = x + row * H;
  bf16* yr = y + row * H;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) s += __bfloat162float(xr[i]);
  const float mean = block_sum(s, scratch) / float(H);
  float q = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const float d = __bfloat162float(xr[i]) - mean;
    q += d * d;
  }
  const float var = block_sum(q, scratch) / float(H);
  const float inv = 1.0f / sqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    yr[i] = __float2bfloat16_rn((__bfloat162float(xr[i]) - mean) * inv * w[i] + b[i]);
}

}  // namespace

void launch_layer_norm(const bf16* x, int64_t rows, int64_t H, const float* w, const float* b,
                       float eps, bf16* y, cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA layer_norm: too many rows (", rows, ")");
  const int threads = int(std::min<int64_t>(256, std::max<int64_t>(32, (H / 4 + 31) / 32 * 32)));
  layer_norm_kernel<<<unsigned(rows), unsigned(threads), 0, stream>>>(x, H, w, b, eps, y);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
