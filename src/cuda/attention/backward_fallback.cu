// Attention backward, scalar fallback (overview: backward.cu): any head_dim
// 1..256, any alignment, f32 throughout, one warp per row; slow, obviously correct, deterministic.
#include <cmath>
#include <cstdint>

#include "cuda/attention/backward.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

// ---------------------------------------------------------------------------------------------
// Fallback kernels: grid (ceil(n / 4), heads), 4 warps, one warp per row. Scores are computed
// identically everywhere (sequential f32 dot product over d, then · scale·log2e), so LSE matches
// the P of the other two kernels exactly. Output dims d = lane + 32i (i < 8) in registers.
constexpr int kFbWarps = 4;

__device__ __forceinline__ float fb_dot(const float* a_sh, const bf16* b, int hd) {
  float s = 0.0f;
  for (int d = 0; d < hd; ++d) s = fmaf(a_sh[d], __bfloat162float(b[d]), s);
  return s;
}

// LSE (log2 domain) and D of query row r.
__global__ void __launch_bounds__(kFbWarps * 32) fb_stats_kernel(BwdParams p) {
  extern __shared__ float fsh[];  // [kFbWarps][hd]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = p.hd;
  if (r >= p.n) return;  // warp-uniform; no block barrier below
  const HeadOffsets off = head_offsets(p, 0, h);
  float* qw = fsh + warp * hd;
  float dsum = 0.0f;
  for (int d = lane; d < hd; d += 32) {
    qw[d] = __bfloat162float(p.q[r * p.qkv_stride + off.qkv + d]);
    dsum = fmaf(__bfloat162float(p.dout[r * p.stride + off.o + d]),
                __bfloat162float(p.o[r * p.stride + off.o + d]), dsum);
  }
  dsum = warp_sum(dsum);
  if (p.lse_in) {  // the forward's LSE: D only
    if (lane == 0) {
      p.lse[int64_t(h) * p.ld + r] = p.lse_in[r * p.heads + h];
      p.dd[int64_t(h) * p.ld + r] = dsum;
    }
    return;
  }
  __syncwarp();
  const int64_t nk = r + 1;  // keys 0..r
  float m = -INFINITY, l = 0.0f;
  for (int64_t kb = 0; kb < nk; kb += 32) {
    const int64_t key = kb + lane;
    const float s =
        key < nk ? fb_dot(qw, p.k + key * p.qkv_stride + off.qkv, hd) * p.scale_log2 : -INFINITY;
    const float m_new = fmaxf(m, warp_max(s));  // finite: key kb is visible
    l = l * exp2f(m - m_new) + warp_sum(exp2f(s - m_new));
    m = m_new;
  }
  if (lane == 0) {
    p.lse[int64_t(h) * p.ld + r] = m + log2f(l);
    p.dd[int64_t(h) * p.ld + r] = dsum;
  }
}

// dq of query row r: Σ_j≤r dS_rj · k_j · scale.
__global__ void __launch_bounds__(kFbWarps * 32) fb_dq_kernel(BwdParams p) {
  extern __shared__ float fsh[];  // [kFbWarps][2][hd]: q row, dout row
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = p.hd;
  if (r >= p.n) return;
  const HeadOffsets off = head_offsets(p, 0, h);
  float* qw = fsh + warp * 2 * hd;
  float* gw = qw + hd;
  for (int d = lane; d < hd; d += 32) {
    qw[d] = __bfloat162float(p.q[r * p.qkv_stride + off.qkv + d]);
    gw[d] = __bfloat162float(p.dout[r * p.stride + off.o + d]);
  }
  __syncwarp();
  const float lse = p.lse[int64_t(h) * p.ld + r], D = p.dd[int64_t(h) * p.ld + r];
  float acc[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
  const int64_t nk = r + 1;
  for (int64_t kb = 0; kb < nk; kb += 32) {
    const int64_t key = kb + lane;
    float ds = 0.0f;
    if (key < nk) {
      const float s = fb_dot(qw, p.k + key * p.qkv_stride + off.qkv, hd) * p.scale_log2;
      const float pr = exp2f(s - lse);
      const float dpv = fb_dot(gw, p.v + key * p.qkv_stride + off.qkv, hd);
      ds = pr * (dpv - D);
    }
    const int cnt = nk - kb < 32 ? int(nk - kb) : 32;
    for (int j = 0; j < cnt; ++j) {
      const float dsj = __shfl_sync(0xffffffffu, ds, j);
      const bf16* krow = p.k + (kb + j) * p.qkv_stride + off.qkv;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) acc[i] = fmaf(dsj, __bfloat162float(krow[d]), acc[i]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) p.dq[r * p.qkv_stride + off.qkv + d] = __float2bfloat16_rn(acc[i] * p.scale);
  }
}

// dk, dv of key row j: Σ_i≥j dS_ij · q_i · scale and Σ_i≥j P_ij · dout_i.
__global__ void __launch_bounds__(kFbWarps * 32) fb_dkdv_kernel(BwdParams p) {
  extern __shared__ float fsh[];  // [kFbWarps][2][hd]: k row, v row
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t kj = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = p.hd;
  if (kj >= p.n) return;
  const HeadOffsets off = head_offsets(p, 0, h);
  float* kw = fsh + warp * 2 * hd;
  float* vw = kw + hd;
  for (int d = lane; d < hd; d += 32) {
    kw[d] = __bfloat162float(p.k[kj * p.qkv_stride + off.qkv + d]);
    vw[d] = __bfloat162float(p.v[kj * p.qkv_stride + off.qkv + d]);
  }
  __syncwarp();
  float ak[8], av[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) ak[i] = av[i] = 0.0f;
  for (int64_t qb = kj; qb < p.n; qb += 32) {
    const int64_t qi = qb + lane;
    float pr = 0.0f, ds = 0.0f;
    if (qi < p.n) {
      const bf16* qrow = p.q + qi * p.qkv_stride + off.qkv;
      const bf16* grow = p.dout + qi * p.stride + off.o;
      // Same operand order as the other kernels: q row (in fb_stats/fb_dq from shared memory)
      // times k row, sequential over d.
      float s = 0.0f, dpv = 0.0f;
      for (int d = 0; d < hd; ++d) {
        s = fmaf(__bfloat162float(qrow[d]), kw[d], s);
        dpv = fmaf(__bfloat162float(grow[d]), vw[d], dpv);
      }
      pr = exp2f(s * p.scale_log2 - p.lse[int64_t(h) * p.ld + qi]);
      ds = pr * (dpv - p.dd[int64_t(h) * p.ld + qi]);
    }
    const int cnt = p.n - qb < 32 ? int(p.n - qb) : 32;
    for (int j = 0; j < cnt; ++j) {
      const float pj = __shfl_sync(0xffffffffu, pr, j);
      const float dsj = __shfl_sync(0xffffffffu, ds, j);
      const bf16* qrow = p.q + (qb + j) * p.qkv_stride + off.qkv;
      const bf16* grow = p.dout + (qb + j) * p.stride + off.o;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) {
          av[i] = fmaf(pj, __bfloat162float(grow[d]), av[i]);
          ak[i] = fmaf(dsj, __bfloat162float(qrow[d]), ak[i]);
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) {
      p.dk[kj * p.qkv_stride + off.qkv + d] = __float2bfloat16_rn(ak[i] * p.scale);
      p.dv[kj * p.qkv_stride + off.qkv + d] = __float2bfloat16_rn(av[i]);
    }
  }
}

}  // namespace

void launch_fallback(const BwdParams& p, cudaStream_t stream) {
  const dim3 grid(ceil_div_u(p.n, kFbWarps), unsigned(p.heads));
  const size_t smem1 = size_t(kFbWarps) * p.hd * sizeof(float);
  fb_stats_kernel<<<grid, kFbWarps * 32, smem1, stream>>>(p);
  RCC_CUDA_LAUNCH_CHECK();
  fb_dq_kernel<<<grid, kFbWarps * 32, 2 * smem1, stream>>>(p);
  RCC_CUDA_LAUNCH_CHECK();
  fb_dkdv_kernel<<<grid, kFbWarps * 32, 2 * smem1, stream>>>(p);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda::attn_bwd
