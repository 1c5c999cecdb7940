// The Llama family's training kernels: the backward of RMSNorm (dense rows, or Qwen3's per-head
// norms in the fused qkv rows) and of SwiGLU, and the regrouping between the Llama family's
// blocked qkv rows [q heads | k heads | v heads] with grouped key/value heads and GPT-NeoX's
// [heads, 3, hd] rows that the attention training kernels take (each key/value head repeated for
// the query heads of its group; gradients of the repeats summed back). All deterministic.
#include "cuda/train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 256;

__device__ __forceinline__ int64_t vec_offset(int64_t v, int per_row, int width,
                                              int64_t row_stride) {
  return (v / per_row) * row_stride + (v % per_row) * int64_t(width);
}

__device__ __forceinline__ float warp_sum(float s) {
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

// rinv[v] = 1 / sqrt(mean(x_v²) + eps), one warp per vector.
__global__ void __launch_bounds__(32 * kWarps)
    rms_stats_kernel(const bf16* x, int64_t vectors, int per_row, int width, int64_t row_stride,
                     float eps, float* rinv) {
  const int lane = threadIdx.x & 31;
  const int64_t v = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (v >= vectors) return;
  const bf16* xr = x + vec_offset(v, per_row, width, row_stride);
  float sq = 0.0f;
  for (int i = lane; i < width; i += 32) {
    const float f = __bfloat162float(xr[i]);
    sq += f * f;
  }
  sq = warp_sum(sq);
  if (lane == 0) rinv[v] = rsqrtf(sq / float(width) + eps);
}

// dw[i] += Σ_v dy_v[i] · x_v[i] · rinv[v] in two deterministic stages: partial[c][i] over chunk
// c of kChunk vectors (a thread per column, grid (column tiles, chunks)), then the partials
// summed in chunk order.
constexpr int kChunk = 128;
__global__ void rms_dw_partial_kernel(const bf16* x, const bf16* dy, int64_t vectors, int per_row,
                                      int width, int64_t row_stride, const float* rinv,
                                      float* partial) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= width) return;
  const int64_t v0 = int64_t(blockIdx.y) * kChunk, v1 = min(vectors, v0 + kChunk);
  float acc = 0.0f;
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t o = vec_offset(v, per_row, width, row_stride) + i;
    acc += __bfloat162float(dy[o]) * __bfloat162float(x[o]) * rinv[v];
  }
  partial[int64_t(blockIdx.y) * width + i] = acc;
}

__global__ void rms_dw_sum_kernel(const float* partial, int chunks, int width, float* dw) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= width) return;
  float acc = 0.0f;
  for (int c = 0; c < chunks; ++c) acc += partial[int64_t(c) * width + i];
  dw[i] += acc;
}

// dx = r · (dy·w − x · r² · mean(dy·w·x)), written (kAccumulate: added) per vector, one warp each.
// dx may be dy: a lane reads its elements of dy before it writes them, after the warp's sum.
template <bool kAccumulate>
__global__ void __launch_bounds__(32 * kWarps)
    rms_dx_kernel(const bf16* x, const bf16* dy, bf16* dx, int64_t vectors, int per_row, int width,
                  int64_t row_stride, const float* w, const float* rinv) {
  const int lane = threadIdx.x & 31;
  const int64_t v = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (v >= vectors) return;
  const int64_t off = vec_offset(v, per_row, width, row_stride);
  float dot = 0.0f;
  for (int i = lane; i < width; i += 32)
    dot += __bfloat162float(dy[off + i]) * w[i] * __bfloat162float(x[off + i]);
  dot = warp_sum(dot);
  const float r = rinv[v], k = dot / float(width) * r * r;
  for (int i = lane; i < width; i += 32) {
    float d = r * (__bfloat162float(dy[off + i]) * w[i] - __bfloat162float(x[off + i]) * k);
    if (kAccumulate) d += __bfloat162float(dx[off + i]);
    dx[off + i] = __float2bfloat16_rn(d);
  }
}

__global__ void swiglu_backward_kernel(const bf16* gu, const bf16* dy, bf16* dgu, int64_t rows,
                                       int64_t I) {
  const int64_t n = rows * I;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / I, i = e - r * I;
    const float g = __bfloat162float(gu[r * 2 * I + i]),
                u = __bfloat162float(gu[r * 2 * I + I + i]);
    const float d = __bfloat162float(dy[e]);
    const float s = 1.0f / (1.0f + __expf(-g));
    dgu[r * 2 * I + i] = __float2bfloat16_rn(d * u * (s * (1.0f + g * (1.0f - s))));
    dgu[r * 2 * I + I + i] = __float2bfloat16_rn(d * (g * s));
  }
}

// exp[r, h, part, :] = blocked[r, q head h | k head h/g | v head h/g].
__global__ void expand_kernel(const bf16* blocked, bf16* exp, int64_t rows, int heads, int kv,
                              int hd) {
  const int64_t n = rows * heads * 3 * int64_t(hd);
  const int g = heads / kv;
  const int64_t W = int64_t(heads + 2 * kv) * hd;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / (int64_t(heads) * 3 * hd);
    const int rest = int(e - r * heads * 3 * int64_t(hd));
    const int h = rest / (3 * hd), part = (rest / hd) % 3, i = rest % hd;
    const int64_t src = part == 0 ? int64_t(h) * hd : int64_t(heads + (part - 1) * kv + h / g) * hd;
    exp[e] = blocked[r * W + src + i];
  }
}

// blocked[r, q head h] = dexp[r, h, 0]; blocked[r, k/v head j] = Σ_{h in group j} dexp[r, h, 1/2]
// (summed in f32 in head order, rounded once).
__global__ void reduce_kernel(const bf16* dexp, bf16* blocked, int64_t rows, int heads, int kv,
                              int hd) {
  const int64_t W = int64_t(heads + 2 * kv) * hd;
  const int64_t n = rows * W;
  const int g = heads / kv;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / W;
    const int c = int(e - r * W), slot = c / hd, i = c % hd;
    const bf16* row = dexp + r * heads * 3 * int64_t(hd);
    if (slot < heads) {
      blocked[e] = row[(int64_t(slot) * 3) * hd + i];
      continue;
    }
    const int part = slot < heads + kv ? 1 : 2, j = slot - heads - (part - 1) * kv;
    float s = 0.0f;
    for (int h = j * g; h < (j + 1) * g; ++h)
      s += __bfloat162float(row[(int64_t(h) * 3 + part) * hd + i]);
    blocked[e] = __float2bfloat16_rn(s);
  }
}

unsigned grid_of(int64_t n) {
  return unsigned(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t(65535) * 16));
}

}  // namespace

void launch_rms_norm_backward(const bf16* x, const bf16* dy, bf16* dx, int64_t rows, int per_row,
                              int width, int64_t row_stride, const float* w, float eps, float* dw,
                              bool accumulate, float* rinv, cudaStream_t stream) {
  const int64_t vectors = rows * per_row;
  if (vectors <= 0) return;
  const unsigned blocks = unsigned((vectors + kWarps - 1) / kWarps);
  rms_stats_kernel<<<blocks, 32 * kWarps, 0, stream>>>(x, vectors, per_row, width, row_stride, eps,
                                                       rinv);
  RCC_CUDA_LAUNCH_CHECK();
  if (dw) {  // before dx, which may overwrite dy
    const int64_t chunks = (vectors + kChunk - 1) / kChunk;
    RCC_CHECK(chunks < 65536, "CUDA rms_norm_backward: ", vectors, " vectors");
    float* partial = rinv + vectors;  // the scratch's second part: [chunks, width]
    const unsigned tiles = unsigned((width + 127) / 128);
    rms_dw_partial_kernel<<<dim3(tiles, unsigned(chunks)), 128, 0, stream>>>(
        x, dy, vectors, per_row, width, row_stride, rinv, partial);
    RCC_CUDA_LAUNCH_CHECK();
    rms_dw_sum_kernel<<<tiles, 128, 0, stream>>>(partial, int(chunks), width, dw);
    RCC_CUDA_LAUNCH_CHECK();
  }
  if (!dx) return;
  if (accumulate)
    rms_dx_kernel<true><<<blocks, 32 * kWarps, 0, stream>>>(x, dy, dx, vectors, per_row, width,
                                                            row_stride, w, rinv);
  else
    rms_dx_kernel<false><<<blocks, 32 * kWarps, 0, stream>>>(x, dy, dx, vectors, per_row, width,
                                                             row_stride, w, rinv);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_swiglu_backward(const bf16* gu, const bf16* dy, bf16* dgu, int64_t rows, int64_t I,
                            cudaStream_t stream) {
  if (rows * I <= 0) return;
  swiglu_backward_kernel<<<grid_of(rows * I), kThreads, 0, stream>>>(gu, dy, dgu, rows, I);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_expand_qkv(const bf16* blocked, bf16* exp, int64_t rows, int heads, int kv_heads,
                       int hd, cudaStream_t stream) {
  if (rows <= 0) return;
  expand_kernel<<<grid_of(rows * heads * 3 * hd), kThreads, 0, stream>>>(blocked, exp, rows, heads,
                                                                         kv_heads, hd);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_reduce_dqkv(const bf16* dexp, bf16* blocked, int64_t rows, int heads, int kv_heads,
                        int hd, cudaStream_t stream) {
  if (rows <= 0) return;
  reduce_kernel<<<grid_of(rows * (heads + 2 * kv_heads) * hd), kThreads, 0, stream>>>(
      dexp, blocked, rows, heads, kv_heads, hd);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
