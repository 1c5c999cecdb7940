// Attention backward, step 1 (overview: backward.cu): LSE and D = rowsum(dout ∘
// out) per query row into the workspace, copied from the forward's LSE (prep_kernel) or recomputed
// (stats_kernel).
#include <atomic>
#include <cmath>
#include <cstdint>

#include "cuda/attention/backward.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

// ---------------------------------------------------------------------------------------------
// Kernel 1 (stats): per (64-query tile, head), D = rowsum(dout ∘ out) and LSE = log2 Σ_j
// 2^(s_ij·scale·log2 e) by an online max / sum over the key tiles 0..diagonal. Grid (heads,
// query tiles) or transposed; the longest (last) query tiles first. NGRP groups of 4 warps split
// the key tiles (group g takes tiles g, g + NGRP, ...; own K double buffer and named barrier),
// which shortens the longest block's chain; their (max, sum) are merged in group order.
template <int HD, bool QREG, int NGRP>
__global__ void __launch_bounds__(kThreads* NGRP) stats_kernel(BwdParams p, int head_major) {
  constexpr int LD = HD + 8;
  constexpr int SN = kTile / 8;
  constexpr int KGS = kTile / 16;
  constexpr int NTHR = kThreads * NGRP;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int btid = threadIdx.x;
  const int grp = NGRP == 1 ? 0 : btid / kThreads;
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);       // [kTile][LD]
  bf16* Ks = Qs + kTile * LD + grp * 2 * kTile * LD;  // [2][kTile][LD] per group
  float* Mx = reinterpret_cast<float*>(Qs + (1 + 2 * NGRP) * kTile * LD);  // [NGRP][kTile]
  float* Lx = Mx + NGRP * kTile;                                           // [NGRP][kTile]

  const BlockPos bp = block_pos(head_major);
  const int qt = int(head_major ? gridDim.y : gridDim.x) - 1 - bp.y, h = bp.h;
  const int tid = btid & (kThreads - 1), warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t n = p.n, stride = p.stride, qs = p.qkv_stride;
  const int64_t q0 = int64_t(qt) * kTile;
  const int64_t wq0 = q0 + warp * 16;
  const HeadOffsets off = head_offsets(p, 0, h);
  const float c = p.scale_log2;

  load_tile_async<HD, NTHR>(Qs, p.q + off.qkv, q0, n, qs, btid);
  if (grp <= qt) load_tile_async<HD>(Ks, p.k + off.qkv, int64_t(grp) * kTile, n, qs, tid);
  cp_async_commit();

  // D while the tiles are in flight: TPR consecutive threads per row, 16-byte loads.
  {
    constexpr int TPR = NTHR / kTile;
    static_assert(TPR >= 2 && TPR <= 8 && (HD / 8) % TPR == 0, "threads per row");
    const int r = btid / TPR, part = btid % TPR;
    const int64_t row = q0 + r;
    float d = 0.0f;
    if (row < n) {
      const bf16* orow = p.o + row * stride + off.o;
      const bf16* grow = p.dout + row * stride + off.o;
#pragma unroll
      for (int ch = part; ch < HD / 8; ch += TPR) {
        const uint4 ov = *reinterpret_cast<const uint4*>(orow + ch * 8);
        const uint4 gv = *reinterpret_cast<const uint4*>(grow + ch * 8);
        const __nv_bfloat162* o2 = reinterpret_cast<const __nv_bfloat162*>(&ov);
        const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(&gv);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 of = __bfloat1622float2(o2[j]);
          const float2 gf = __bfloat1622float2(g2[j]);
          d = fmaf(of.x, gf.x, d);
          d = fmaf(of.y, gf.y, d);
        }
      }
    }
#pragma unroll
    for (int o = 1; o < TPR; o <<= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
    if (part == 0 && row < n) p.dd[int64_t(h) * p.ld + row] = d;
  }

  cp_async_wait<0>();
  __syncthreads();
  uint32_t qf[QREG ? HD / 16 : 1][4];
  if constexpr (QREG) {
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk)
      ldmatrix_x4(qf[kk], a_frag_addr<LD>(Qs, warp * 16, kk * 16, lane));
  }

  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};
  for (int t = grp, step = 0; t <= qt; t += NGRP, ++step) {
    const int buf = step & 1;
    cp_async_prefetch_or_drain(t + NGRP <= qt, [&] {
      load_tile_async<HD>(Ks + (buf ^ 1) * kTile * LD, p.k + off.qkv, int64_t(t + NGRP) * kTile, n,
                          qs, tid);
    });
    group_sync<NGRP>(grp);
    const bool diag = t == qt;
    float s[SN][4], unused[SN][4];
    // On the diagonal tile (key base q0) 16-key group j follows every row of warp w when j > w.
    qk_scores<HD, QREG, false>(Qs, nullptr, qf, qf, Ks + buf * kTile * LD, nullptr, warp, lane,
                               diag ? warp + 1 : KGS, s, unused);
    if (diag) {  // key > query → -inf (includes keys ≥ n, which follow every valid row)
#pragma unroll
      for (int j = 0; j < SN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t key = q0 + j * 8 + 2 * tq + (e & 1);
          const int64_t qry = wq0 + g + (e >> 1) * 8;
          if (key > qry) s[j][e] = -INFINITY;
        }
    }
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < SN; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * hh], s[j][2 * hh + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(mrow[hh], mx * c);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      const float corr = exp2f(mrow[hh] - m_use);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < SN; ++j)
        sum += exp2f(fmaf(s[j][2 * hh], c, -m_use)) + exp2f(fmaf(s[j][2 * hh + 1], c, -m_use));
      lrow[hh] = lrow[hh] * corr + sum;
      mrow[hh] = m_new;
    }
    group_sync<NGRP>(grp);  // this buffer is refilled by the next iteration's prefetch
  }

  // Merge the groups' (max, sum) per row in group order (a group without tiles has -inf, 0).
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    float l = lrow[hh];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (tq == 0) {
      const int r = warp * 16 + g + hh * 8;
      Mx[grp * kTile + r] = mrow[hh];
      Lx[grp * kTile + r] = l;
    }
  }
  __syncthreads();
  if (grp != 0 || tq != 0) return;
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int r = warp * 16 + g + hh * 8;
    const int64_t row = q0 + r;
    if (row >= n) continue;
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < NGRP; ++k) m = fmaxf(m, Mx[k * kTile + r]);  // finite: key 0 is visible
    float l = 0.0f;
#pragma unroll
    for (int k = 0; k < NGRP; ++k) l += Lx[k * kTile + r] * exp2f(Mx[k * kTile + r] - m);
    p.lse[int64_t(h) * p.ld + row] = m + log2f(l);  // l ≥ 1: the row max contributes 2^0
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel 1' (prep, when the forward stored its LSE): per (64-query tile, head) D = rowsum(dout ∘
// out) → workspace, the forward's LSE [n][heads] → workspace [heads][n], and with zero_dq the f32
// dQ accumulators of these rows zeroed (atomic path). Memory-bound, no key loop.
template <int HD>
__global__ void __launch_bounds__(kThreads) prep_kernel(BwdParams p, int head_major, int zero_dq) {
  const BlockPos bp = block_pos(head_major);
  const int qt = bp.y, h = bp.h;
  const int64_t n = p.n, stride = p.stride;
  const int64_t q0 = int64_t(qt) * kTile;
  const int64_t hoff = int64_t(h) * HD;  // o, dout and the dQ accumulators
  constexpr int TPR = kThreads / kTile;
  static_assert(TPR >= 2 && (HD / 8) % TPR == 0, "threads per row");
  const int r = threadIdx.x / TPR, part = threadIdx.x % TPR;
  const int64_t row = q0 + r;
  float d = 0.0f;
  if (row < n) {
    const bf16* orow = p.o + row * stride + hoff;
    const bf16* grow = p.dout + row * stride + hoff;
#pragma unroll
    for (int ch = part; ch < HD / 8; ch += TPR) {
      const uint4 ov = *reinterpret_cast<const uint4*>(orow + ch * 8);
      const uint4 gv = *reinterpret_cast<const uint4*>(grow + ch * 8);
      const __nv_bfloat162* o2 = reinterpret_cast<const __nv_bfloat162*>(&ov);
      const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(&gv);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 of = __bfloat1622float2(o2[j]);
        const float2 gf = __bfloat1622float2(g2[j]);
        d = fmaf(of.x, gf.x, d);
        d = fmaf(of.y, gf.y, d);
      }
    }
  }
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
  if (part == 0 && row < n) {
    p.dd[int64_t(h) * p.ld + row] = d;
    p.lse[int64_t(h) * p.ld + row] = p.lse_in[row * p.heads + h];
  }
  if (zero_dq) {
    constexpr int C4 = HD / 4;
    for (int i = threadIdx.x; i < kTile * C4; i += kThreads) {
      const int rr = i / C4, c = i % C4;
      if (q0 + rr < n)
        reinterpret_cast<float4*>(p.dqacc + (q0 + rr) * stride + hoff)[c] =
            make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  }
}

}  // namespace

// Groups of 4 warps per stats_kernel block (the configuration per head_dim: launch_mma,
// backward.cu).
constexpr int kStatsGroups = 2;

// LSE and D into the workspace ([heads][n] each): from the forward's LSE (prep_kernel, which also
// zeroes the dQ accumulators when zero_dq) or recomputed (stats_kernel).
template <int HD, bool ST_QREG>
void launch_stats(const BwdParams& p, bool zero_dq, cudaStream_t stream) {
  constexpr int LD = HD + 8;
  const int64_t tiles = (p.n + kTile - 1) / kTile;
  const int head_major = tiles <= 65535;
  const dim3 grid = head_major ? dim3(unsigned(p.heads), unsigned(tiles))
                               : dim3(unsigned(tiles), unsigned(p.heads));
  if (p.lse_in) {
    prep_kernel<HD><<<grid, kThreads, 0, stream>>>(p, head_major, zero_dq ? 1 : 0);
    RCC_CUDA_LAUNCH_CHECK();
    return;
  }
  constexpr int NG = kStatsGroups;
  constexpr size_t smem =
      size_t((1 + 2 * NG) * kTile * LD) * sizeof(bf16) + size_t(2 * NG * kTile) * sizeof(float);
  auto kernel = stats_kernel<HD, ST_QREG, NG>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  kernel<<<grid, kThreads * NG, smem, stream>>>(p, head_major);
  RCC_CUDA_LAUNCH_CHECK();
  if (zero_dq)
    RCC_CUDA_CHECK(
        cudaMemsetAsync(p.dqacc, 0, size_t(p.n) * size_t(p.stride) * sizeof(float), stream));
}

template void launch_stats<64, true>(const BwdParams&, bool, cudaStream_t);
template void launch_stats<128, false>(const BwdParams&, bool, cudaStream_t);

}  // namespace rcc::cuda::attn_bwd
