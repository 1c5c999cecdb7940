// Element-wise and row-copy kernels: GELU, add, bias, dtype conversion, embedding, row gather.
// All bf16 storage with f32 math; 16-byte vector paths where pointers and sizes allow.
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda/kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;

// Grid for n work items with a grid-stride loop (bounded so that huge n still launches).
unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65536)));
}

__device__ __forceinline__ float gelu_f(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}

// 8 bf16 in one 16-byte word.
union Pack8 {
  uint4 u;
  bf16 h[8];
};

__global__ void gelu_vec_kernel(const uint4* x, uint4* y, int64_t n8) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n8;
       i += int64_t(gridDim.x) * blockDim.x) {
    Pack8 p;
    p.u = x[i];
#pragma unroll
    for (int j = 0; j < 8; ++j) p.h[j] = __float2bfloat16_rn(gelu_f(__bfloat162float(p.h[j])));
    y[i] = p.u;
  }
}
__global__ void gelu_kernel(const bf16* x, bf16* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(gelu_f(__bfloat162float(x[i])));
}

__global__ void add_vec_kernel(uint4* y, const uint4* x, int64_t n8) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n8;
       i += int64_t(gridDim.x) * blockDim.x) {
    Pack8 a, b;
    a.u = y[i];
    b.u = x[i];
#pragma unroll
    for (int j = 0; j < 8; ++j)
      a.h[j] = __float2bfloat16_rn(__bfloat162float(a.h[j]) + __bfloat162float(b.h[j]));
    y[i] = a.u;
  }
}
__global__ void add_kernel(bf16* y, const bf16* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(__bfloat162float(y[i]) + __bfloat162float(x[i]));
}

// y [rows, N]: grid-stride over all elements; column = i % N.
__global__ void add_bias_kernel(bf16* y, int64_t rows, int64_t N, const float* bias) {
  const int64_t n = rows * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(__bfloat162float(y[i]) + bias[i % N]);
}

__global__ void f32_to_bf16_kernel(const float* src, bf16* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}
__global__ void f16_to_bf16_kernel(const __half* src, bf16* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(__half2float(src[i]));  // f16 -> f32 is exact
}

// One block per output row; `W8` 16-byte words per row when the vector path applies.
__global__ void embed_vec_kernel(const uint4* table, int64_t W8, const int32_t* ids, uint4* out) {
  const int64_t row = blockIdx.x;
  const uint4* src = table + int64_t(ids[row]) * W8;
  uint4* dst = out + row * W8;
  for (int64_t c = threadIdx.x; c < W8; c += blockDim.x) dst[c] = src[c];
}
__global__ void embed_kernel(const bf16* table, int64_t H, const int32_t* ids, bf16* out) {
  const int64_t row = blockIdx.x;
  const bf16* src = table + int64_t(ids[row]) * H;
  bf16* dst = out + row * H;
  for (int64_t c = threadIdx.x; c < H; c += blockDim.x) dst[c] = src[c];
}

// Strides and width in 16-byte words (vector path) or elements (scalar path).
template <class T>
__global__ void gather_kernel(const T* src, int64_t src_stride, const int64_t* idx, int64_t width,
                              T* dst, int64_t dst_stride) {
  const int64_t row = blockIdx.x;
  const T* s = src + idx[row] * src_stride;
  T* d = dst + row * dst_stride;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) d[c] = s[c];
}

}  // namespace

void launch_gelu(const bf16* x, bf16* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  if (aligned(x, 16) && aligned(y, 16) && n % 8 == 0) {
    gelu_vec_kernel<<<grid_for(n / 8), kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(x),
                                                              reinterpret_cast<uint4*>(y), n / 8);
  } else {
    gelu_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_add(bf16* y, const bf16* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  if (aligned(x, 16) && aligned(y, 16) && n % 8 == 0) {
    add_vec_kernel<<<grid_for(n / 8), kThreads, 0, stream>>>(
        reinterpret_cast<uint4*>(y), reinterpret_cast<const uint4*>(x), n / 8);
  } else {
    add_kernel<<<grid_for(n), kThreads, 0, stream>>>(y, x, n);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_add_bias(bf16* y, int64_t rows, int64_t N, const float* bias, cudaStream_t stream) {
  if (rows <= 0 || N <= 0) return;
  add_bias_kernel<<<grid_for(rows * N), kThreads, 0, stream>>>(y, rows, N, bias);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_convert_to_bf16(DType src_type, const void* src, bf16* dst, int64_t n,
                            cudaStream_t stream) {
  if (n <= 0) return;
  switch (src_type) {
    case DType::F32:
      f32_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(static_cast<const float*>(src), dst,
                                                               n);
      break;
    case DType::F16:
      f16_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream>>>(static_cast<const __half*>(src), dst,
                                                               n);
      break;
    case DType::BF16:
      RCC_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * 2, cudaMemcpyDeviceToDevice, stream));
      return;
    default:
      fail("CUDA: cannot convert ", dtype_name(src_type), " to bf16");
  }
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_embed(const bf16* table, int64_t H, const int32_t* ids, int64_t n, bf16* out,
                  cudaStream_t stream) {
  if (n <= 0 || H <= 0) return;
  RCC_CHECK(n < (int64_t(1) << 31), "CUDA embed: too many rows (", n, ")");
  if (H % 8 == 0 && aligned(table, 16) && aligned(out, 16)) {
    const int64_t w8 = H / 8;
    embed_vec_kernel<<<unsigned(n), unsigned(std::min<int64_t>(256, (w8 + 31) / 32 * 32)), 0,
                       stream>>>(reinterpret_cast<const uint4*>(table), w8, ids,
                                 reinterpret_cast<uint4*>(out));
  } else {
    embed_kernel<<<unsigned(n), unsigned(std::min<int64_t>(256, (H + 31) / 32 * 32)), 0, stream>>>(
        table, H, ids, out);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_gather_rows(const bf16* src, int64_t src_stride, const int64_t* idx, int64_t n,
                        int64_t width, bf16* dst, int64_t dst_stride, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  RCC_CHECK(n < (int64_t(1) << 31), "CUDA gather_rows: too many rows (", n, ")");
  if (width % 8 == 0 && src_stride % 8 == 0 && dst_stride % 8 == 0 && aligned(src, 16) &&
      aligned(dst, 16)) {
    const int64_t w8 = width / 8;
    gather_kernel<uint4>
        <<<unsigned(n), unsigned(std::min<int64_t>(256, (w8 + 31) / 32 * 32)), 0, stream>>>(
            reinterpret_cast<const uint4*>(src), src_stride / 8, idx, w8,
            reinterpret_cast<uint4*>(dst), dst_stride / 8);
  } else {
    gather_kernel<bf16>
        <<<unsigned(n), unsigned(std::min<int64_t>(256, (width + 31) / 32 * 32)), 0, stream>>>(
            src, src_stride, idx, width, dst, dst_stride);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
