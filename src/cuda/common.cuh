// Shared helpers of the CUDA backend: error checks that throw rcc::Error, bf16 conversions, block
// reductions. Included only by .cu files.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"

namespace rcc::cuda {

using bf16 = __nv_bfloat16;

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* call, const char* file,
                                     int line);

inline unsigned ceil_div_u(int64_t a, int64_t b) {
  return unsigned((a + b - 1) / b);
}

// Whether p is a multiple of `a` bytes (the vector paths' 8- and 16-byte accesses).
inline bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

}  // namespace rcc::cuda

// Every CUDA runtime / cuBLAS call goes through one of these: failure throws rcc::Error naming the
// call, the place and CUDA's message.
#define RCC_CUDA_CHECK(call)                                                                     \
  do {                                                                                           \
    cudaError_t rcc_e_ = (call);                                                                 \
    if (rcc_e_ != cudaSuccess) ::rcc::cuda::throw_cuda_error(rcc_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define RCC_CUBLAS_CHECK(call)                                            \
  do {                                                                    \
    cublasStatus_t rcc_s_ = (call);                                       \
    if (rcc_s_ != CUBLAS_STATUS_SUCCESS)                                  \
      ::rcc::cuda::throw_cublas_error(rcc_s_, #call, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch: configuration errors (grid too large, too much shared memory).
#define RCC_CUDA_LAUNCH_CHECK() RCC_CUDA_CHECK(cudaGetLastError())

#ifdef __CUDACC__
namespace rcc::cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum / max; every thread gets the result. `scratch`: 32 floats of shared memory; the
// block size is a multiple of 32. Contains __syncthreads(): call from all threads.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? scratch[lane] : 0.0f;
  return warp_sum(r);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(r);
}

}  // namespace rcc::cuda
#endif
