// Row-wise FP8 E4M3 quantisation (spec §2.8): for each row r of x [rows, K] (bf16, row stride K),
// amax_r = max_k |x[r, k]|, q[r, k] = e4m3(x[r, k] · 448 / amax_r) (round to nearest even,
// saturating at ±448), scale[r] = amax_r / 448 (1 for a row of zeros). Weights (once, at load)
// and the encoder's activations (before every FP8 product) go through it.
#include <cuda_fp8.h>

#include "cuda/kernels.h"
#include "cuda/vec.cuh"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kE4M3Max = 448.0f;

__device__ __forceinline__ float block_max(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? red[lane] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) red[0] = v;
  }
  __syncthreads();
  return red[0];
}

// 8 values (already scaled) as 8 E4M3 bytes, element 0 in the lowest byte.
__device__ __forceinline__ uint2 to_e4m3x8(const float (&f)[8], float inv) {
  uint32_t w[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(
        make_float2(f[4 * h] * inv, f[4 * h + 1] * inv), __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(
        make_float2(f[4 * h + 2] * inv, f[4 * h + 3] * inv), __NV_SATFINITE, __NV_E4M3);
    w[h] = uint32_t(lo) | (uint32_t(hi) << 16);
  }
  return make_uint2(w[0], w[1]);
}

__device__ __forceinline__ void scale_of(float amax, float* inv, float* scale) {
  const bool nonzero = amax > 0.0f;
  *inv = nonzero ? kE4M3Max / amax : 1.0f;
  *scale = nonzero ? amax / kE4M3Max : 1.0f;
}

// One block per row, the row held in registers: ITEMS groups of 8 elements per thread
// (K <= kThreads · 8 · ITEMS, K a multiple of 8, x 16-byte aligned).
template <int ITEMS>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_regs(const bf16* __restrict__ x, int64_t K, uint8_t* __restrict__ q,
                       float* __restrict__ scales) {
  __shared__ float red[kThreads / 32];
  const int64_t r = blockIdx.x;
  const bf16* xr = x + r * K;
  float f[ITEMS][8];
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int64_t c = (int64_t(i) * kThreads + threadIdx.x) * 8;
    if (c < K) {
      load_v<8>(xr + c, f[i]);
#pragma unroll
      for (int k = 0; k < 8; ++k) amax = fmaxf(amax, fabsf(f[i][k]));
    }
  }
  amax = block_max(amax, red);
  float inv, scale;
  scale_of(amax, &inv, &scale);
  uint8_t* qr = q + r * K;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int64_t c = (int64_t(i) * kThreads + threadIdx.x) * 8;
    if (c < K) *reinterpret_cast<uint2*>(qr + c) = to_e4m3x8(f[i], inv);
  }
  if (threadIdx.x == 0) scales[r] = scale;
}

// Any K and alignment: two passes over the row (the second from cache), one element at a time.
__global__ void __launch_bounds__(kThreads)
    quantize_rows_any(const bf16* __restrict__ x, int64_t K, uint8_t* __restrict__ q,
                      float* __restrict__ scales) {
  __shared__ float red[kThreads / 32];
  const int64_t r = blockIdx.x;
  const bf16* xr = x + r * K;
  float amax = 0.0f;
  for (int64_t c = threadIdx.x; c < K; c += kThreads) amax = fmaxf(amax, fabsf(float(xr[c])));
  amax = block_max(amax, red);
  float inv, scale;
  scale_of(amax, &inv, &scale);
  for (int64_t c = threadIdx.x; c < K; c += kThreads)
    q[r * K + c] = __nv_cvt_float_to_fp8(float(xr[c]) * inv, __NV_SATFINITE, __NV_E4M3);
  if (threadIdx.x == 0) scales[r] = scale;
}

}  // namespace

void launch_quantize_rows_e4m3(const bf16* x, int64_t rows, int64_t K, uint8_t* q, float* scales,
                               cudaStream_t stream) {
  if (rows <= 0 || K <= 0) return;
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA fp8 quantisation: ", rows, " rows");
  const bool vec = K % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(q) % 8 == 0;
  const int64_t groups = (K / 8 + kThreads - 1) / kThreads;  // groups of 8 per thread
  const dim3 grid{static_cast<unsigned>(rows)};
  if (vec && groups <= 1)
    quantize_rows_regs<1><<<grid, kThreads, 0, stream>>>(x, K, q, scales);
  else if (vec && groups <= 2)
    quantize_rows_regs<2><<<grid, kThreads, 0, stream>>>(x, K, q, scales);
  else if (vec && groups <= 4)
    quantize_rows_regs<4><<<grid, kThreads, 0, stream>>>(x, K, q, scales);
  else if (vec && groups <= 8)
    quantize_rows_regs<8><<<grid, kThreads, 0, stream>>>(x, K, q, scales);
  else
    quantize_rows_any<<<grid, kThreads, 0, stream>>>(x, K, q, scales);
  RCC_CUDA_CHECK(cudaGetLastError());
}

}  // namespace rcc::cuda
