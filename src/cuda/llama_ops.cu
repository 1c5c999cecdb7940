// The Llama family's elementwise ops: RMSNorm (over dense rows, or over each head of the fused
// qkv rows for Qwen3's q/k norms) and SwiGLU. bf16 in and out, f32 math.
#include "cuda/kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

// One warp per vector: vector (r, g) of `width` elements at r·row_stride + g·width (g < per_row),
// y = w · (x / sqrt(mean(x²) + eps)) in place or into y (same layout).
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
    rms_norm_kernel(const bf16* x, bf16* y, int64_t vectors, int per_row, int width,
                    int64_t row_stride, const float* w, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t v = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (v >= vectors) return;  // the whole warp
  const int64_t off = (v / per_row) * row_stride + (v % per_row) * int64_t(width);
  const bf16* xr = x + off;
  float sq = 0.0f;
  for (int i = lane; i < width; i += 32) {
    const float f = __bfloat162float(xr[i]);
    sq += f * f;
  }
  for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
  const float inv = rsqrtf(sq / float(width) + eps);
  bf16* yr = y + off;
  for (int i = lane; i < width; i += 32)
    yr[i] = __float2bfloat16_rn(w[i] * (__bfloat162float(xr[i]) * inv));
}

__global__ void swiglu_kernel(const bf16* gu, int64_t rows, int64_t I, bf16* y) {
  const int64_t n = rows * I;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / I, i = e - r * I;
    const float g = __bfloat162float(gu[r * 2 * I + i]);
    const float u = __bfloat162float(gu[r * 2 * I + I + i]);
    y[e] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
}

}  // namespace

void launch_rms_norm(const bf16* x, bf16* y, int64_t rows, int per_row, int width,
                     int64_t row_stride, const float* w, float eps, cudaStream_t stream) {
  const int64_t vectors = rows * per_row;
  if (vectors <= 0) return;
  RCC_CHECK(vectors < (int64_t(1) << 31) * kWarpsPerBlock, "CUDA rms_norm: too many rows");
  const unsigned blocks = unsigned((vectors + kWarpsPerBlock - 1) / kWarpsPerBlock);
  rms_norm_kernel<<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(x, y, vectors, per_row, width,
                                                              row_stride, w, eps);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_swiglu(const bf16* gu, int64_t rows, int64_t I, bf16* y, cudaStream_t stream) {
  const int64_t n = rows * I;
  if (n <= 0) return;
  const int threads = 256;
  const unsigned blocks = unsigned(std::min<int64_t>((n + threads - 1) / threads, 65535 * 8));
  swiglu_kernel<<<blocks, threads, 0, stream>>>(gu, rows, I, y);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
