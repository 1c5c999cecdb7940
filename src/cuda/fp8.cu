// Per-tensor FP8 E4M3 quantisation (spec §2.8): amax = max |x| over the n elements of x (bf16),
// scale = amax / 448 (1 when x is all zeros), q = e4m3(x · 448 / amax) (round to nearest even,
// saturating at ±448). Two launches: the amax (atomicMax over the blocks' maxima), then the
// conversion, which reads it on the device. Weights go through it once at load, the encoder's
// activations before every FP8 product.
#include <cuda_fp8.h>

#include <algorithm>

#include "cuda/kernels.h"
#include "cuda/vec.cuh"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kE4M3Max = 448.0f;

__device__ __forceinline__ float block_max(float v) {
  __shared__ float red[kThreads / 32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = 0.0f;
  if (warp == 0) {
    v = lane < kThreads / 32 ? red[lane] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  }
  return v;  // in thread 0
}

// *amax_bits (zeroed before) = max over x of |x| as f32 bits: non-negative floats order as their
// bit patterns, so an integer atomicMax is exact. VEC: 8 elements per 16-byte load, else 1.
template <int VEC>
__global__ void __launch_bounds__(kThreads)
    amax_kernel(const bf16* __restrict__ x, int64_t n, unsigned* __restrict__ amax_bits) {
  float m = 0.0f;
  const int64_t stride = int64_t(gridDim.x) * kThreads * VEC;
  for (int64_t i = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * VEC; i < n; i += stride) {
    float f[VEC];
    load_v<VEC>(x + i, f);
#pragma unroll
    for (int k = 0; k < VEC; ++k) m = fmaxf(m, fabsf(f[k]));
  }
  m = block_max(m);
  if (threadIdx.x == 0) atomicMax(amax_bits, __float_as_uint(m));
}

__device__ __forceinline__ float inverse_scale(float amax) {
  return amax > 0.0f ? kE4M3Max / amax : 1.0f;
}

// q = e4m3(x · 448 / amax); block 0's thread 0 also writes scale = amax / 448.
template <int VEC>
__global__ void __launch_bounds__(kThreads)
    quantize_kernel(const bf16* __restrict__ x, int64_t n, const unsigned* __restrict__ amax_bits,
                    uint8_t* __restrict__ q, float* __restrict__ scale) {
  const float amax = __uint_as_float(*amax_bits);
  const float inv = inverse_scale(amax);
  if (blockIdx.x == 0 && threadIdx.x == 0) *scale = amax > 0.0f ? amax / kE4M3Max : 1.0f;
  const int64_t stride = int64_t(gridDim.x) * kThreads * VEC;
  for (int64_t i = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * VEC; i < n; i += stride) {
    float f[VEC];
    load_v<VEC>(x + i, f);
    if constexpr (VEC == 8) {
      uint32_t w[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(
            make_float2(f[4 * h] * inv, f[4 * h + 1] * inv), __NV_SATFINITE, __NV_E4M3);
        const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(
            make_float2(f[4 * h + 2] * inv, f[4 * h + 3] * inv), __NV_SATFINITE, __NV_E4M3);
        w[h] = uint32_t(lo) | (uint32_t(hi) << 16);
      }
      *reinterpret_cast<uint2*>(q + i) = make_uint2(w[0], w[1]);
    } else {
      q[i] = __nv_cvt_float_to_fp8(f[0] * inv, __NV_SATFINITE, __NV_E4M3);
    }
  }
}

int grid_for(int64_t items, int sms) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return int(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(sms) * 8)));
}

}  // namespace

void launch_quantize_e4m3(const bf16* x, int64_t n, uint8_t* q, float* scale, unsigned* amax_bits,
                          int sms, cudaStream_t stream) {
  RCC_CUDA_CHECK(cudaMemsetAsync(amax_bits, 0, sizeof(unsigned), stream));
  if (n > 0) {
    const bool vec = n % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(q) % 8 == 0;
    if (vec) {
      const int g = grid_for(n / 8, sms);
      amax_kernel<8><<<g, kThreads, 0, stream>>>(x, n, amax_bits);
      RCC_CUDA_CHECK(cudaGetLastError());
      quantize_kernel<8><<<g, kThreads, 0, stream>>>(x, n, amax_bits, q, scale);
    } else {
      const int g = grid_for(n, sms);
      amax_kernel<1><<<g, kThreads, 0, stream>>>(x, n, amax_bits);
      RCC_CUDA_CHECK(cudaGetLastError());
      quantize_kernel<1><<<g, kThreads, 0, stream>>>(x, n, amax_bits, q, scale);
    }
  } else {
    quantize_kernel<1><<<1, kThreads, 0, stream>>>(x, 0, amax_bits, q, scale);  // scale = 1
  }
  RCC_CUDA_CHECK(cudaGetLastError());
}

}  // namespace rcc::cuda
