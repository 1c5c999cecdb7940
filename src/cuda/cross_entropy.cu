// Cross-entropy over f32 logits (launch_cross_entropy, train_kernels.h): per-row loss and bf16
// dlogits, one block per row, the block's (max, sum) merged in a fixed tree. Deterministic, and
// the grid depends only on the sizes, so the reduction order is the same on every GPU.
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

// (max, Σ exp(x − max)) pairs, merged as in an online softmax. An empty pair is (−inf, 0).
struct MaxSum {
  float m, s;
};
__device__ __forceinline__ MaxSum ms_merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};  // both empty (or all −inf): avoid −inf − (−inf)
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}
__device__ __forceinline__ void ms_add(MaxSum& a, float x) {
  if (x > a.m) {
    a.s = a.s * expf(a.m - x) + 1.0f;  // a.m == −inf: expf(−inf) = 0
    a.m = x;
  } else if (a.m != -INFINITY) {
    a.s += expf(x - a.m);  // NaN x lands here and poisons the sum, as it should
  }
}
// Block-wide merge (fixed tree: deterministic). `sm`/`ss`: 32 floats of shared memory each.
__device__ __forceinline__ MaxSum block_max_sum(MaxSum v, float* sm, float* ss) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = ms_merge(v, {__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)});
  __syncthreads();
  if (lane == 0) {
    sm[warp] = v.m;
    ss[warp] = v.s;
  }
  __syncthreads();
  MaxSum r = lane < nwarps ? MaxSum{sm[lane], ss[lane]} : MaxSum{-INFINITY, 0.0f};
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    r = ms_merge(r, {__shfl_xor_sync(0xffffffffu, r.m, o), __shfl_xor_sync(0xffffffffu, r.s, o)});
  return r;
}

constexpr int kCeThreads = 512;
// One block per row. Pass 1: online max / sum of exponentials over the row (f32); pass 2 (when
// dlogits is wanted): dlogits = c · (exp(x − max) / sum − onehot), c = scale · w.
// loss = w · ((max − x_t) + log(sum)) — the same value as w · (lse − x_t) but without forming
// lse = max + log(sum) first, which would lose the low bits of a small loss.
// kVec: V % 4 == 0 and logits 16-byte aligned (and dlogits, if any, 8-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(kCeThreads)
    cross_entropy_kernel(const float* logits, int64_t V, const int32_t* targets,
                         const float* weights, float scale, float* loss, bf16* dlogits) {
  __shared__ float sm[32], ss[32];
  const int64_t row = blockIdx.x;
  const float* l = logits + row * V;
  bf16* d = dlogits ? dlogits + row * V : nullptr;
  const float w = weights[row];
  if (w == 0.0f) {  // masked row: loss 0, zero gradient
    if (threadIdx.x == 0) loss[row] = 0.0f;
    if (d)
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x) d[j] = __float2bfloat16_rn(0.0f);
    return;  // uniform across the block: no barrier is skipped by only some threads
  }
  const int32_t t = targets[row];
  const bool t_ok = t >= 0 && int64_t(t) < V;  // checked on the host; never read out of range

  MaxSum acc{-INFINITY, 0.0f};
  if constexpr (kVec) {
    const float4* l4 = reinterpret_cast<const float4*>(l);
    const int64_t V4 = V / 4;
    for (int64_t j = threadIdx.x; j < V4; j += blockDim.x) {
      const float4 x = l4[j];
      ms_add(acc, x.x);
      ms_add(acc, x.y);
      ms_add(acc, x.z);
      ms_add(acc, x.w);
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) ms_add(acc, l[j]);
  }
  const MaxSum tot = block_max_sum(acc, sm, ss);
  const float mx = tot.m, sum = tot.s;
  if (threadIdx.x == 0)
    loss[row] = t_ok ? w * ((mx - l[t]) + logf(sum)) : __int_as_float(0x7fffffff);  // NaN
  if (!d) return;
  const float c = scale * w;
  const float inv_sum = 1.0f / sum;
  if constexpr (kVec) {
    const float4* l4 = reinterpret_cast<const float4*>(l);
    uint2* d4 = reinterpret_cast<uint2*>(d);
    const int64_t V4 = V / 4;
    for (int64_t j = threadIdx.x; j < V4; j += blockDim.x) {
      const float4 x = l4[j];
      const float xs[4] = {x.x, x.y, x.z, x.w};
      Pack4 o;
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float p = expf(xs[u] - mx) * inv_sum;
        o.h[u] = __float2bfloat16_rn(c * (4 * j + u == t ? p - 1.0f : p));
      }
      d4[j] = o.u;
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
      const float p = expf(l[j] - mx) * inv_sum;
      d[j] = __float2bfloat16_rn(c * (j == t ? p - 1.0f : p));
    }
  }
}

}  // namespace

void launch_cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                          const float* weights, float scale, float* loss, bf16* dlogits,
                          cudaStream_t stream) {
  if (rows <= 0) return;
  RCC_CHECK(V > 0, "CUDA cross_entropy: empty vocabulary");
  RCC_CHECK(rows < kMaxRows, "CUDA cross_entropy: too many rows (", rows, ")");
  const bool vec = V % 4 == 0 && aligned(logits, 16) && (!dlogits || aligned(dlogits, 8));
  if (vec)
    cross_entropy_kernel<true><<<unsigned(rows), kCeThreads, 0, stream>>>(
        logits, V, targets, weights, scale, loss, dlogits);
  else
    cross_entropy_kernel<false><<<unsigned(rows), kCeThreads, 0, stream>>>(
        logits, V, targets, weights, scale, loss, dlogits);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
