// Backward of causal self-attention over one sequence from position 0 (FlashAttention-2 style:
// the n×n score matrix is recomputed tile by tile and never stored).
//
// Tensor-core path (head_dim 64 and 128, 16-byte aligned inputs): tiles of 64 queries × 64 keys,
// groups of 4 warps (warp w owns 16 rows of a tile), mma.sync m16n8k16 (bf16 in, f32
// accumulate), cp.async double buffers, shared-memory rows padded to HD + 8 bf16 (conflict-free
// ldmatrix). Launches:
//
//  1. LSE and D = rowsum(dout ∘ out) into the workspace ([heads][n] each):
//     - prep_kernel when the forward stored its LSE (AttentionArgs::lse, [n][heads]): D, the LSE
//       copied into [heads][n], and on the atomic path the f32 dQ accumulators zeroed;
//     - else stats_kernel, one block per (query tile, head), 2 groups of 4 warps that split the
//       key tiles 0..diagonal (even / odd, each with its own K double buffer and named barrier):
//       D_i (f32, from the bf16 out that the forward stored); S = Q·Kᵀ, causal mask, online max /
//       sum in the log2 domain, the two groups' (max, sum) merged in a fixed order →
//       LSE_i = log2 Σ_j 2^(s_ij·scale·log2 e) (+ a memset of the dQ accumulators if atomic).
//  2. Deterministic scheme (RCC_CUDA_ATTN_BWD=deterministic; the default for head_dim 64, where it
//     measured faster): grad_kernel, dq blocks and dk/dv blocks in ONE grid (both need only LSE
//     and D, so their tails overlap), interleaved longest-first: grid row 2j = dk/dv of key tile
//     j, 2j+1 = dq of query tile T-1-j (both T-j tiles of work). 7 tile products per tile pair.
//     - dq block (query tile, head), warp rows = queries. dQ is deterministic (no atomics): every
//       dq row is owned by exactly one warp. For key tiles 0..diagonal: S = Q·Kᵀ,
//       P = 2^(S·c − LSE), dP = dO·Vᵀ, dS = P ⊙ (dP − D), dQ += dS·K; dq = scale·dQ.
//     - dk/dv block (key tile, head), warp rows = keys, transposed orientation so that everything
//       stays in registers: for query tiles i ≥ the key tile, Sᵀ = K·Qᵀ, Pᵀ = 2^(Sᵀ·c − LSE_col),
//       dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − D_col), dV += Pᵀ·dO, dK += dSᵀ·Q (the C fragments of Pᵀ,
//       dSᵀ are the A fragments of the next MMA); dk = scale·dK, dv = dV, each written once.
//       Q, dO, LSE, D of the next query tile are prefetched while the current one is processed.
//     Atomic scheme (FlashAttention-2's; the default for head_dim 128): grad_atomic_kernel, only
//     dk/dv blocks, which also store dSᵀ in shared memory and add their share dS·K of each query
//     tile's dQ to f32 accumulators (red.global.add.v2.f32): 5 tile products; then
//     dq_convert_kernel writes dq = bf16(scale · dQ). Not bit-reproducible (addition order).
//  (c = scale·log2 e.) Masking: only on the diagonal tile (key > query) and, in dk/dv blocks, the
//  last partial query tile (query ≥ n); masked probabilities are set to 0 (never the exp of a
//  masked score). Rows ≥ n read as zeros and are never written. On the diagonal tile, 16-row
//  groups that none of a warp's rows can see are skipped.
//
// Fallback (any head_dim 1..256, any alignment; forced with RCC_CUDA_ATTN_BWD=fallback): three
// scalar kernels, one warp per row, f32 throughout (stats: LSE (or the forward's, copied) and D
// per query row; dq per query row, keys in blocks of 32 lanes; dk/dv per key row, queries in
// blocks of 32 lanes). O(n²·hd) work per kernel with no tiling: slow, obviously correct,
// deterministic.
//
// Numerics: bf16 inputs, f32 math and accumulation, bf16 outputs. On the tensor-core path P and
// dS are rounded to bf16 as MMA operands (for dV += Pᵀ·dO, dK += dSᵀ·Q, dQ += dS·K), as the
// forward rounds P before P·V; LSE, D, dS = P·(dP − D) itself and all accumulators stay f32. The
// fallback never rounds intermediates. D uses the bf16 `out` (what the training forward stores).
//
// Workspace: f32 LSE [heads][n], f32 D [heads][n], then (head_dim 64 / 128) the f32 dQ
// accumulators [n][heads·hd] of the atomic scheme.
//
// Register fragment layouts: cuda/cuda_mma.cuh.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cuda/cuda_mma.cuh"
#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kTile = 64;      // queries per query tile = keys per key tile
constexpr int kThreads = 128;  // 4 warps × 16 rows

struct BwdParams {
  const bf16* q;
  const bf16* k;
  const bf16* v;
  const bf16* o;
  const bf16* dout;
  bf16* dq;
  bf16* dk;
  bf16* dv;
  float* lse;           // [heads][n], log2 domain
  float* dd;            // [heads][n], D = rowsum(dout ∘ out)
  const float* lse_in;  // the forward's LSE [n][heads] (log2 domain), or null: recomputed
  float* dqacc;         // atomic path: f32 dQ accumulators [n][heads·hd] (unscaled)
  int64_t n;
  int64_t stride;  // heads · hd
  int heads, hd;
  float scale;       // 1/sqrt(hd)
  float scale_log2;  // scale · log2(e)
};

// *p += a, *(p + 1) += b: one fire-and-forget vector reduction (sm_90), p 8-byte aligned.
__device__ __forceinline__ void red_add2(float* p, float a, float b) {
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
}

// Address for ldmatrix_x4 of an A fragment (16 rows × 16 columns at (row0, col0)) from a
// row-major [rows][LD] tile: lanes 0-15 rows 0-15 at col0, lanes 16-31 rows 0-15 at col0 + 8.
template <int LD>
__device__ __forceinline__ const bf16* a_frag_addr(const bf16* tile, int row0, int col0, int lane) {
  return tile + (row0 + (lane & 15)) * LD + col0 + (lane >> 4) * 8;
}
// B fragments of two n-tiles (n0..n0+15) × k = col0..col0+15, from a tile stored [n][k]
// (non-transposed ldmatrix): b[0], b[1] for n-tile n0, b[2], b[3] for n0 + 8.
template <int LD>
__device__ __forceinline__ const bf16* b_frag_addr_nk(const bf16* tile, int n0, int col0,
                                                      int lane) {
  return tile + (n0 + (lane & 7) + ((lane >> 4) << 3)) * LD + col0 + ((lane >> 3) & 1) * 8;
}
// B fragments of two n-tiles (columns n0..n0+15) × k = row0..row0+15, from a tile stored [k][n]
// (transposed ldmatrix): b[0], b[1] for n-tile n0, b[2], b[3] for n0 + 8.
template <int LD>
__device__ __forceinline__ const bf16* b_frag_addr_kn(const bf16* tile, int row0, int n0,
                                                      int lane) {
  return tile + (row0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + n0 + (lane >> 4) * 8;
}

// kTile rows of head h (row0.., zero-filled past n) of a [n, stride] bf16 matrix into a
// [kTile][LD] shared tile, 16 bytes per cp.async, spread over NTHR threads (0 <= tid < NTHR).
template <int HD, int NTHR = kThreads>
__device__ __forceinline__ void load_tile_async(bf16* dst, const bf16* src_head, int64_t row0,
                                                int64_t n, int64_t stride, int tid) {
  constexpr int LD = HD + 8;
  constexpr int CH = HD / 8;
  static_assert((kTile * CH) % NTHR == 0, "tile loads must divide evenly over the threads");
#pragma unroll
  for (int it = 0; it < kTile * CH / NTHR; ++it) {
    const int i = tid + it * NTHR;
    const int r = i / CH, c = i % CH;
    const int64_t row = row0 + r;
    const bool valid = row < n;
    cp_async16(dst + r * LD + c * 8, src_head + (valid ? row : 0) * stride + c * 8, valid);
  }
}

// Barrier of one group of 4 warps (named barrier 1 + grp), or of the block when NGRP == 1.
template <int NGRP>
__device__ __forceinline__ void group_sync(int grp) {
  if constexpr (NGRP == 1)
    __syncthreads();
  else
    asm volatile("bar.sync %0, %1;\n" ::"r"(1 + grp), "n"(kThreads) : "memory");
}

// Block coordinates: with head_major the heads run along x (so the blocks of one tile index of
// every head are dispatched together), else along y.
struct BlockPos {
  int y, h;
};
__device__ __forceinline__ BlockPos block_pos(int head_major) {
  return head_major ? BlockPos{int(blockIdx.y), int(blockIdx.x)}
                    : BlockPos{int(blockIdx.x), int(blockIdx.y)};
}

// S = Q·Kᵀ of one warp's 16 query rows against a 64-key tile Kb [key][LD] (and with PASS2
// dP = dO·Vᵀ against Vb): A = Q / dO rows (registers qf/df when QREG, else shared memory),
// B[k = d][n = key] = K / V stored [key][d]. 16-key groups ≥ kg_end are skipped (left 0).
template <int HD, bool QREG, bool PASS2>
__device__ __forceinline__ void qk_scores(const bf16* Qs, const bf16* dOs,
                                          const uint32_t (&qf)[QREG ? HD / 16 : 1][4],
                                          const uint32_t (&df)[QREG ? HD / 16 : 1][4],
                                          const bf16* Kb, const bf16* Vb, int warp, int lane,
                                          int kg_end, float (&s)[kTile / 8][4],
                                          float (&dp)[kTile / 8][4]) {
  constexpr int LD = HD + 8;
#pragma unroll
  for (int j = 0; j < kTile / 8; ++j) {
    s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
    dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.0f;
  }
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) {
    uint32_t qa[4], da[4];
    if constexpr (QREG) {
#pragma unroll
      for (int j = 0; j < 4; ++j) qa[j] = qf[kk][j], da[j] = df[kk][j];
    } else {
      ldmatrix_x4(qa, a_frag_addr<LD>(Qs, warp * 16, kk * 16, lane));
      if constexpr (PASS2) ldmatrix_x4(da, a_frag_addr<LD>(dOs, warp * 16, kk * 16, lane));
    }
#pragma unroll
    for (int np = 0; np < kTile / 16; ++np) {
      if (np < kg_end) {
        uint32_t b[4];
        ldmatrix_x4(b, b_frag_addr_nk<LD>(Kb, np * 16, kk * 16, lane));
        mma_bf16(s[2 * np], qa, b[0], b[1]);
        mma_bf16(s[2 * np + 1], qa, b[2], b[3]);
        if constexpr (PASS2) {
          ldmatrix_x4(b, b_frag_addr_nk<LD>(Vb, np * 16, kk * 16, lane));
          mma_bf16(dp[2 * np], da, b[0], b[1]);
          mma_bf16(dp[2 * np + 1], da, b[2], b[3]);
        }
      }
    }
  }
}

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
  const int64_t n = p.n, stride = p.stride;
  const int64_t q0 = int64_t(qt) * kTile;
  const int64_t wq0 = q0 + warp * 16;
  const int64_t hoff = int64_t(h) * HD;
  const float c = p.scale_log2;

  load_tile_async<HD, NTHR>(Qs, p.q + hoff, q0, n, stride, btid);
  if (grp <= qt) load_tile_async<HD>(Ks, p.k + hoff, int64_t(grp) * kTile, n, stride, tid);
  cp_async_commit();

  // D while the tiles are in flight: TPR consecutive threads per row, 16-byte loads.
  {
    constexpr int TPR = NTHR / kTile;
    static_assert(TPR >= 2 && TPR <= 8 && (HD / 8) % TPR == 0, "threads per row");
    const int r = btid / TPR, part = btid % TPR;
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
    if (part == 0 && row < n) p.dd[int64_t(h) * n + row] = d;
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
    if (t + NGRP <= qt) {
      load_tile_async<HD>(Ks + (buf ^ 1) * kTile * LD, p.k + hoff, int64_t(t + NGRP) * kTile, n,
                          stride, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
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
    p.lse[int64_t(h) * n + row] = m + log2f(l);  // l ≥ 1: the row max contributes 2^0
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
  const int64_t hoff = int64_t(h) * HD;
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
    p.dd[int64_t(h) * n + row] = d;
    p.lse[int64_t(h) * n + row] = p.lse_in[row * p.heads + h];
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

// ---------------------------------------------------------------------------------------------
// dq of one 64-query tile: for key tiles 0..qt, S = Q·Kᵀ, P = 2^(S·c − LSE), dP = dO·Vᵀ,
// dS = P ⊙ (dP − D), dQ += dS·K; dq = scale·dQ. Warp w owns query rows 16w..16w+15.
// Shared memory: Q, dO [kTile][LD], K, V [2][kTile][LD].
template <int HD, bool QREG>
__device__ __forceinline__ void dq_block(const BwdParams& p, int qt, int h,
                                         unsigned char* smem_raw) {
  constexpr int LD = HD + 8;
  constexpr int NT = HD / 8;
  constexpr int SN = kTile / 8;
  constexpr int KGS = kTile / 16;
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* dOs = Qs + kTile * LD;
  bf16* Ks = dOs + kTile * LD;
  bf16* Vs = Ks + 2 * kTile * LD;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t n = p.n, stride = p.stride;
  const int64_t q0 = int64_t(qt) * kTile;
  const int64_t wq0 = q0 + warp * 16;
  const int64_t hoff = int64_t(h) * HD;
  const float c = p.scale_log2;

  load_tile_async<HD>(Qs, p.q + hoff, q0, n, stride, tid);
  load_tile_async<HD>(dOs, p.dout + hoff, q0, n, stride, tid);
  load_tile_async<HD>(Ks, p.k + hoff, 0, n, stride, tid);
  load_tile_async<HD>(Vs, p.v + hoff, 0, n, stride, tid);
  cp_async_commit();
  // LSE and D of rows g, g + 8 of this warp (rows ≥ n: 0; their results are never stored).
  float lse[2], drow[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wq0 + g + hh * 8;
    lse[hh] = row < n ? p.lse[int64_t(h) * n + row] : 0.0f;
    drow[hh] = row < n ? p.dd[int64_t(h) * n + row] : 0.0f;
  }
  cp_async_wait<0>();
  __syncthreads();
  uint32_t qf[QREG ? HD / 16 : 1][4], df[QREG ? HD / 16 : 1][4];
  if constexpr (QREG) {
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      ldmatrix_x4(qf[kk], a_frag_addr<LD>(Qs, warp * 16, kk * 16, lane));
      ldmatrix_x4(df[kk], a_frag_addr<LD>(dOs, warp * 16, kk * 16, lane));
    }
  }

  float acc[NT][4];
#pragma unroll
  for (int d = 0; d < NT; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.0f;
  for (int t = 0; t <= qt; ++t) {
    const int buf = t & 1;
    if (t < qt) {
      const int64_t r0 = int64_t(t + 1) * kTile;
      load_tile_async<HD>(Ks + (buf ^ 1) * kTile * LD, p.k + hoff, r0, n, stride, tid);
      load_tile_async<HD>(Vs + (buf ^ 1) * kTile * LD, p.v + hoff, r0, n, stride, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kb = Ks + buf * kTile * LD;
    const bool diag = t == qt;
    // On the diagonal tile (key base q0) 16-key group j follows every row of warp w when j > w.
    const int kg_end = diag ? warp + 1 : KGS;
    float s[SN][4], dp[SN][4];
    qk_scores<HD, QREG, true>(Qs, dOs, qf, df, Kb, Vs + buf * kTile * LD, warp, lane, kg_end, s,
                              dp);
    // P (0 where masked: key > query) and dS = P ⊙ (dP − D), written over dp.
#pragma unroll
    for (int j = 0; j < SN; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = int64_t(t) * kTile + j * 8 + 2 * tq + (e & 1);
        const int64_t qry = wq0 + g + (e >> 1) * 8;
        const bool masked = diag && key > qry;
        const float pv = masked ? 0.0f : exp2f(fmaf(s[j][e], c, -lse[e >> 1]));
        dp[j][e] = pv * (dp[j][e] - drow[e >> 1]);
      }
      // dQ += dS · K: A = dS (C layout = A layout), B[k = key][n = d] = K stored [key][d].
#pragma unroll
    for (int ks = 0; ks < KGS; ++ks) {
      if (ks < kg_end) {
        uint32_t a[4];
        a[0] = pack_bf16(dp[2 * ks][0], dp[2 * ks][1]);
        a[1] = pack_bf16(dp[2 * ks][2], dp[2 * ks][3]);
        a[2] = pack_bf16(dp[2 * ks + 1][0], dp[2 * ks + 1][1]);
        a[3] = pack_bf16(dp[2 * ks + 1][2], dp[2 * ks + 1][3]);
#pragma unroll
        for (int dn = 0; dn < HD / 16; ++dn) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(Kb, ks * 16, dn * 16, lane));
          mma_bf16(acc[2 * dn], a, b[0], b[1]);
          mma_bf16(acc[2 * dn + 1], a, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // this buffer is refilled by the next iteration's prefetch
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wq0 + g + hh * 8;
    if (row >= n) continue;
    bf16* dst = p.dq + row * stride + hoff + 2 * tq;
#pragma unroll
    for (int d = 0; d < NT; ++d)
      *reinterpret_cast<__nv_bfloat162*>(dst + d * 8) =
          __floats2bfloat162_rn(acc[d][2 * hh] * p.scale, acc[d][2 * hh + 1] * p.scale);
  }
}

// ---------------------------------------------------------------------------------------------
// dk, dv of one 64-key tile kt: warp w owns key rows 16w..16w+15, transposed orientation. For
// query tiles i = kt..last: Sᵀ = K·Qᵀ, Pᵀ = 2^(Sᵀ·c − LSE_col), dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ −
// D_col), dV += Pᵀ·dO, dK += dSᵀ·Q; dk = scale·dK, dv = dV. K and V fragments are re-read from
// shared memory (fewer registers: more resident blocks). QSUB: queries per register sub-block of
// the 64-query tile (the scores of QSUB queries live in registers).
// Shared memory: K, V [kTile][LD], Q, dO [2][kTile][LD], LSE, D [2][kTile] f32.
template <int HD, int QSUB>
__device__ __forceinline__ void dkdv_block(const BwdParams& p, int kt, int h,
                                           unsigned char* smem_raw) {
  constexpr int LD = HD + 8;
  constexpr int KSTEPS = HD / 16;
  constexpr int NT = HD / 8;
  constexpr int SN = QSUB / 8;    // 8-query score tiles per sub-block
  constexpr int QGS = QSUB / 16;  // 16-query groups per sub-block
  constexpr int QG = kTile / 16;  // 16-query groups per tile
  static_assert(kTile % QSUB == 0 && QSUB % 16 == 0, "query sub-blocks");
  static_assert(2 * kTile == kThreads, "LSE/D loads: one element per thread");
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);
  bf16* Vs = Ks + kTile * LD;
  bf16* Qs = Vs + kTile * LD;
  bf16* dOs = Qs + 2 * kTile * LD;
  float* Ls = reinterpret_cast<float*>(dOs + 2 * kTile * LD);
  float* Dsm = Ls + 2 * kTile;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t n = p.n, stride = p.stride;
  const int64_t k0 = int64_t(kt) * kTile;
  const int64_t wk0 = k0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const int64_t hoff = int64_t(h) * HD;
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * n;
  const float* dd_h = p.dd + int64_t(h) * n;

  auto load_q = [&](int i, int buf) {  // query tile i: Q, dO, LSE, D
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_async<HD>(Qs + buf * kTile * LD, p.q + hoff, r0, n, stride, tid);
    load_tile_async<HD>(dOs + buf * kTile * LD, p.dout + hoff, r0, n, stride, tid);
    const int r = tid & (kTile - 1);
    const int64_t row = r0 + r;
    const bool valid = row < n;
    if (tid < kTile)
      cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
    else
      cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
  };

  load_tile_async<HD>(Ks, p.k + hoff, k0, n, stride, tid);
  load_tile_async<HD>(Vs, p.v + hoff, k0, n, stride, tid);
  load_q(kt, 0);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  float dk[NT][4], dv[NT][4];
#pragma unroll
  for (int d = 0; d < NT; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[d][e] = dv[d][e] = 0.0f;

  for (int i = kt, step = 0; i < nqt; ++i, ++step) {
    const int buf = step & 1;
    if (i + 1 < nqt) {
      load_q(i + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Qb = Qs + buf * kTile * LD;
    const bf16* dOb = dOs + buf * kTile * LD;
    const float* Lb = Ls + buf * kTile;
    const float* Db = Dsm + buf * kTile;
    const int64_t q0 = int64_t(i) * kTile;
    const bool diag = i == kt;
    const bool tail = q0 + kTile > n;
    // 16-query groups that can see some key of this warp: on the diagonal tile (q0 = k0) group
    // j holds queries k0+16j.. which all precede the warp's keys when j < w; groups entirely
    // past n are skipped too.
    const int qg_begin = diag ? warp : 0;
    const int qg_end = tail ? int((n - q0 + 15) / 16) : QG;
    const bool need_mask = diag || tail;
#pragma unroll
    for (int sb = 0; sb < kTile / QSUB; ++sb) {  // query sub-blocks (register pressure)
      if (sb * QGS >= qg_end || (sb + 1) * QGS <= qg_begin) continue;  // warp-uniform
      float st[SN][4], dpt[SN][4];
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        st[j][0] = st[j][1] = st[j][2] = st[j][3] = 0.0f;
        dpt[j][0] = dpt[j][1] = dpt[j][2] = dpt[j][3] = 0.0f;
      }
      // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ: A = this warp's K / V rows, B[k = d][n = query] = Q / dO
      // stored [query][d].
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        uint32_t ka[4], va[4];
        ldmatrix_x4(ka, a_frag_addr<LD>(Ks, warp * 16, kk * 16, lane));
        ldmatrix_x4(va, a_frag_addr<LD>(Vs, warp * 16, kk * 16, lane));
#pragma unroll
        for (int np = 0; np < QGS; ++np) {
          const int qg = sb * QGS + np;  // 16-query group within the tile
          if (qg >= qg_begin && qg < qg_end) {
            uint32_t b[4];
            ldmatrix_x4(b, b_frag_addr_nk<LD>(Qb, qg * 16, kk * 16, lane));
            mma_bf16(st[2 * np], ka, b[0], b[1]);
            mma_bf16(st[2 * np + 1], ka, b[2], b[3]);
            ldmatrix_x4(b, b_frag_addr_nk<LD>(dOb, qg * 16, kk * 16, lane));
            mma_bf16(dpt[2 * np], va, b[0], b[1]);
            mma_bf16(dpt[2 * np + 1], va, b[2], b[3]);
          }
        }
      }

      // Pᵀ (0 where masked: key > query, or query ≥ n) over st, dSᵀ = Pᵀ ⊙ (dPᵀ − D) over dpt.
      // Element (j, e): key wk0 + g + (e>>1)·8, query q0 + sb·QSUB + 8j + 2tq + (e&1).
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        const int col = sb * QSUB + j * 8 + 2 * tq;  // query within the tile
        const float2 l2 = *reinterpret_cast<const float2*>(Lb + col);
        const float2 d2 = *reinterpret_cast<const float2*>(Db + col);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t qry = q0 + col + (e & 1);
          const int64_t key = wk0 + g + (e >> 1) * 8;
          const bool masked = need_mask && (key > qry || qry >= n);
          const float lv = (e & 1) ? l2.y : l2.x;
          const float dv_ = (e & 1) ? d2.y : d2.x;
          const float pv = masked ? 0.0f : exp2f(fmaf(st[j][e], c, -lv));
          st[j][e] = pv;
          dpt[j][e] = pv * (dpt[j][e] - dv_);
        }
      }

      // dV += Pᵀ·dO and dK += dSᵀ·Q: A = Pᵀ / dSᵀ (C layout = A layout, k = query),
      // B[k = query][n = d] = dO / Q stored [query][d].
#pragma unroll
      for (int ks = 0; ks < QGS; ++ks) {
        const int qg = sb * QGS + ks;
        if (qg >= qg_begin && qg < qg_end) {
          uint32_t pa[4], sa[4];
          pa[0] = pack_bf16(st[2 * ks][0], st[2 * ks][1]);
          pa[1] = pack_bf16(st[2 * ks][2], st[2 * ks][3]);
          pa[2] = pack_bf16(st[2 * ks + 1][0], st[2 * ks + 1][1]);
          pa[3] = pack_bf16(st[2 * ks + 1][2], st[2 * ks + 1][3]);
          sa[0] = pack_bf16(dpt[2 * ks][0], dpt[2 * ks][1]);
          sa[1] = pack_bf16(dpt[2 * ks][2], dpt[2 * ks][3]);
          sa[2] = pack_bf16(dpt[2 * ks + 1][0], dpt[2 * ks + 1][1]);
          sa[3] = pack_bf16(dpt[2 * ks + 1][2], dpt[2 * ks + 1][3]);
#pragma unroll
          for (int dn = 0; dn < HD / 16; ++dn) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(dOb, qg * 16, dn * 16, lane));
            mma_bf16(dv[2 * dn], pa, b[0], b[1]);
            mma_bf16(dv[2 * dn + 1], pa, b[2], b[3]);
            ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(Qb, qg * 16, dn * 16, lane));
            mma_bf16(dk[2 * dn], sa, b[0], b[1]);
            mma_bf16(dk[2 * dn + 1], sa, b[2], b[3]);
          }
        }
      }
    }
    __syncthreads();  // this buffer is refilled by the next iteration's prefetch
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wk0 + g + hh * 8;
    if (row >= n) continue;
    bf16* kdst = p.dk + row * stride + hoff + 2 * tq;
    bf16* vdst = p.dv + row * stride + hoff + 2 * tq;
#pragma unroll
    for (int d = 0; d < NT; ++d) {
      *reinterpret_cast<__nv_bfloat162*>(kdst + d * 8) =
          __floats2bfloat162_rn(dk[d][2 * hh] * p.scale, dk[d][2 * hh + 1] * p.scale);
      *reinterpret_cast<__nv_bfloat162*>(vdst + d * 8) =
          __floats2bfloat162_rn(dv[d][2 * hh], dv[d][2 * hh + 1]);
    }
  }
}

// Kernel 2: dq and dk/dv blocks in one grid (both need only LSE and D, so the tails of the two
// overlap). Tile index y of 2·tiles: even y → dk/dv of key tile y/2 (tiles - y/2 query tiles),
// odd y → dq of query tile tiles-1-y/2 (the same count of key tiles): the longest work first.
template <int HD, bool QREG, int QSUB, int MINB>
__global__ void __launch_bounds__(kThreads, MINB) grad_kernel(BwdParams p, int head_major) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const BlockPos bp = block_pos(head_major);
  const int tiles = int(head_major ? gridDim.y : gridDim.x) / 2;
  if (bp.y & 1)
    dq_block<HD, QREG>(p, tiles - 1 - bp.y / 2, bp.h, smem_raw);
  else
    dkdv_block<HD, QSUB>(p, bp.y / 2, bp.h, smem_raw);
}

// ---------------------------------------------------------------------------------------------
// Atomic path (FlashAttention-2's scheme, 5 tile products instead of 7): one block per (64-key
// tile, head); for its query tiles i ≥ kt it computes Sᵀ, Pᵀ, dPᵀ, dSᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q
// as dkdv_block does, stores dSᵀ (bf16, as the MMAs use it) in shared memory, and then warp w
// computes dQ_i[16w..16w+15, :] += dS·K (this key tile's share) and adds it to the f32
// accumulators in global memory with red.global.add.v2.f32. dq = bf16(scale · dQ) afterwards
// (dq_convert_kernel). The order of the additions varies between runs: not bit-reproducible.
// KG groups of 4 warps split the query tiles (group g: kt + g, kt + g + KG, ...; each with its own
// Q/dO double buffer, dSᵀ tile and named barrier): halves the longest block's chain; the groups'
// dK, dV are merged through shared memory at the end.
// Shared memory: K, V [kTile][LD]; per group Q, dO [2][kTile][LD], dSᵀ [kTile][kTile + 8]; then
// per group LSE, D [2][kTile] f32.
template <int HD, int KG>
struct AtomicLayout {
  static constexpr int LD = HD + 8;
  static constexpr int SLD = kTile + 8;
  static constexpr int tile = kTile * LD;               // bf16 elements
  static constexpr int group = 4 * tile + kTile * SLD;  // bf16 elements per group
  static constexpr size_t bytes =
      size_t(2 * tile + KG * group) * sizeof(bf16) + size_t(KG * 4 * kTile) * sizeof(float);
};

// Address for ldmatrix_x4_trans of an A fragment (rows m0..m0+15, k = k0..k0+15) from a tile
// stored transposed, [k][m] with row length LD.
template <int LD>
__device__ __forceinline__ const bf16* a_frag_addr_t(const bf16* tile, int m0, int k0, int lane) {
  return tile + (k0 + (lane & 7) + ((lane >> 4) & 1) * 8) * LD + m0 + ((lane >> 3) & 1) * 8;
}

template <int HD, int QSUB, int KG, int MINB>
__global__ void __launch_bounds__(kThreads* KG, MINB)
    grad_atomic_kernel(BwdParams p, int head_major) {
  using L = AtomicLayout<HD, KG>;
  constexpr int LD = L::LD, SLD = L::SLD;
  constexpr int KSTEPS = HD / 16;
  constexpr int NT = HD / 8;
  constexpr int SN = QSUB / 8;
  constexpr int QGS = QSUB / 16;
  constexpr int QG = kTile / 16;
  constexpr int NTHR = kThreads * KG;
  static_assert(kTile % QSUB == 0 && QSUB % 16 == 0, "query sub-blocks");
  static_assert(2 * kTile == kThreads, "LSE/D loads: one element per thread");
  static_assert(size_t((KG - 1) * 2 * NT * 4 * kThreads) * sizeof(float) <=
                    size_t(KG * L::group) * sizeof(bf16),
                "merge area");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int btid = threadIdx.x;
  const int grp = KG == 1 ? 0 : btid / kThreads;
  const int tid = btid & (kThreads - 1), warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);
  bf16* Vs = Ks + L::tile;
  bf16* Qs = Vs + L::tile + grp * L::group;
  bf16* dOs = Qs + 2 * L::tile;
  bf16* dSs = dOs + 2 * L::tile;
  float* Ls = reinterpret_cast<float*>(Ks + 2 * L::tile + KG * L::group) + grp * 4 * kTile;
  float* Dsm = Ls + 2 * kTile;

  const BlockPos bp = block_pos(head_major);
  const int kt = bp.y, h = bp.h;
  const int64_t n = p.n, stride = p.stride;
  const int64_t k0 = int64_t(kt) * kTile;
  const int64_t wk0 = k0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const int64_t hoff = int64_t(h) * HD;
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * n;
  const float* dd_h = p.dd + int64_t(h) * n;
  float* dqacc = p.dqacc + hoff;

  auto load_q = [&](int i, int buf) {  // query tile i: Q, dO, LSE, D (this group's threads)
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_async<HD>(Qs + buf * L::tile, p.q + hoff, r0, n, stride, tid);
    load_tile_async<HD>(dOs + buf * L::tile, p.dout + hoff, r0, n, stride, tid);
    const int r = tid & (kTile - 1);
    const int64_t row = r0 + r;
    const bool valid = row < n;
    if (tid < kTile)
      cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
    else
      cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
  };

  load_tile_async<HD, NTHR>(Ks, p.k + hoff, k0, n, stride, btid);
  load_tile_async<HD, NTHR>(Vs, p.v + hoff, k0, n, stride, btid);
  const int i0 = kt + grp;
  if (i0 < nqt) load_q(i0, 0);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  float dk[NT][4], dv[NT][4];
#pragma unroll
  for (int d = 0; d < NT; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[d][e] = dv[d][e] = 0.0f;

  for (int i = i0, step = 0; i < nqt; i += KG, ++step) {
    const int buf = step & 1;
    if (i + KG < nqt) {
      load_q(i + KG, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    group_sync<KG>(grp);
    const bf16* Qb = Qs + buf * L::tile;
    const bf16* dOb = dOs + buf * L::tile;
    const float* Lb = Ls + buf * kTile;
    const float* Db = Dsm + buf * kTile;
    const int64_t q0 = int64_t(i) * kTile;
    const bool diag = i == kt;
    const bool tail = q0 + kTile > n;
    const int qg_begin = diag ? warp : 0;
    const int qg_end = tail ? int((n - q0 + 15) / 16) : QG;
    const bool need_mask = diag || tail;
    bf16* dSrow = dSs + (warp * 16 + g) * SLD + 2 * tq;  // key row g of this warp, query 2tq
#pragma unroll
    for (int sb = 0; sb < kTile / QSUB; ++sb) {
      if (sb * QGS >= qg_end || (sb + 1) * QGS <= qg_begin) {  // warp-uniform: dSᵀ = 0 here
#pragma unroll
        for (int j = 0; j < SN; ++j) {
          *reinterpret_cast<uint32_t*>(dSrow + sb * QSUB + j * 8) = 0u;
          *reinterpret_cast<uint32_t*>(dSrow + 8 * SLD + sb * QSUB + j * 8) = 0u;
        }
        continue;
      }
      float st[SN][4], dpt[SN][4];
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        st[j][0] = st[j][1] = st[j][2] = st[j][3] = 0.0f;
        dpt[j][0] = dpt[j][1] = dpt[j][2] = dpt[j][3] = 0.0f;
      }
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        uint32_t ka[4], va[4];
        ldmatrix_x4(ka, a_frag_addr<LD>(Ks, warp * 16, kk * 16, lane));
        ldmatrix_x4(va, a_frag_addr<LD>(Vs, warp * 16, kk * 16, lane));
#pragma unroll
        for (int np = 0; np < QGS; ++np) {
          const int qg = sb * QGS + np;
          if (qg >= qg_begin && qg < qg_end) {
            uint32_t b[4];
            ldmatrix_x4(b, b_frag_addr_nk<LD>(Qb, qg * 16, kk * 16, lane));
            mma_bf16(st[2 * np], ka, b[0], b[1]);
            mma_bf16(st[2 * np + 1], ka, b[2], b[3]);
            ldmatrix_x4(b, b_frag_addr_nk<LD>(dOb, qg * 16, kk * 16, lane));
            mma_bf16(dpt[2 * np], va, b[0], b[1]);
            mma_bf16(dpt[2 * np + 1], va, b[2], b[3]);
          }
        }
      }
      // Pᵀ over st, dSᵀ over dpt (0 where masked: key > query, or query ≥ n).
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        const int col = sb * QSUB + j * 8 + 2 * tq;
        const float2 l2 = *reinterpret_cast<const float2*>(Lb + col);
        const float2 d2 = *reinterpret_cast<const float2*>(Db + col);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t qry = q0 + col + (e & 1);
          const int64_t key = wk0 + g + (e >> 1) * 8;
          const bool masked = need_mask && (key > qry || qry >= n);
          const float lv = (e & 1) ? l2.y : l2.x;
          const float dv_ = (e & 1) ? d2.y : d2.x;
          const float pv = masked ? 0.0f : exp2f(fmaf(st[j][e], c, -lv));
          st[j][e] = pv;
          dpt[j][e] = pv * (dpt[j][e] - dv_);
        }
      }
#pragma unroll
      for (int ks = 0; ks < QGS; ++ks) {
        uint32_t pa[4], sa[4];
        pa[0] = pack_bf16(st[2 * ks][0], st[2 * ks][1]);
        pa[1] = pack_bf16(st[2 * ks][2], st[2 * ks][3]);
        pa[2] = pack_bf16(st[2 * ks + 1][0], st[2 * ks + 1][1]);
        pa[3] = pack_bf16(st[2 * ks + 1][2], st[2 * ks + 1][3]);
        sa[0] = pack_bf16(dpt[2 * ks][0], dpt[2 * ks][1]);
        sa[1] = pack_bf16(dpt[2 * ks][2], dpt[2 * ks][3]);
        sa[2] = pack_bf16(dpt[2 * ks + 1][0], dpt[2 * ks + 1][1]);
        sa[3] = pack_bf16(dpt[2 * ks + 1][2], dpt[2 * ks + 1][3]);
        // dSᵀ (C layout: key rows g, g + 8; queries 2tq..+1 of 8-query tiles 2ks, 2ks + 1).
        bf16* dst = dSrow + sb * QSUB + ks * 16;
        *reinterpret_cast<uint32_t*>(dst) = sa[0];
        *reinterpret_cast<uint32_t*>(dst + 8 * SLD) = sa[1];
        *reinterpret_cast<uint32_t*>(dst + 8) = sa[2];
        *reinterpret_cast<uint32_t*>(dst + 8 * SLD + 8) = sa[3];
        const int qg = sb * QGS + ks;
        if (qg >= qg_begin && qg < qg_end) {
#pragma unroll
          for (int dn = 0; dn < HD / 16; ++dn) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(dOb, qg * 16, dn * 16, lane));
            mma_bf16(dv[2 * dn], pa, b[0], b[1]);
            mma_bf16(dv[2 * dn + 1], pa, b[2], b[3]);
            ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(Qb, qg * 16, dn * 16, lane));
            mma_bf16(dk[2 * dn], sa, b[0], b[1]);
            mma_bf16(dk[2 * dn + 1], sa, b[2], b[3]);
          }
        }
      }
    }
    group_sync<KG>(grp);  // dSᵀ complete

    // dQ_i += dS·K for query rows 16w..16w+15 of tile i: A = dS [query][key] read transposed
    // from dSᵀ, B[k = key][n = d] = K stored [key][d]. On the diagonal tile query group w sees
    // key groups 0..w only. Columns in chunks of 64 (fewer live registers for head_dim 128).
    if (q0 + warp * 16 < n) {  // warp-uniform
      const int ks_end = diag ? warp + 1 : QG;
#pragma unroll
      for (int dc = 0; dc < HD / 64; ++dc) {
        float acc[8][4];
#pragma unroll
        for (int d = 0; d < 8; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < QG; ++ks) {
          if (ks < ks_end) {
            uint32_t a[4];
            ldmatrix_x4_trans(a, a_frag_addr_t<SLD>(dSs, warp * 16, ks * 16, lane));
#pragma unroll
            for (int dn = 0; dn < 4; ++dn) {
              uint32_t b[4];
              ldmatrix_x4_trans(b, b_frag_addr_kn<LD>(Ks, ks * 16, dc * 64 + dn * 16, lane));
              mma_bf16(acc[2 * dn], a, b[0], b[1]);
              mma_bf16(acc[2 * dn + 1], a, b[2], b[3]);
            }
          }
        }
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int64_t row = q0 + warp * 16 + g + hh * 8;
          if (row < n) {
            float* dst = dqacc + row * stride + dc * 64 + 2 * tq;
#pragma unroll
            for (int d = 0; d < 8; ++d) red_add2(dst + d * 8, acc[d][2 * hh], acc[d][2 * hh + 1]);
          }
        }
      }
    }
    group_sync<KG>(grp);  // dSᵀ and this Q/dO buffer are rewritten next
  }

  if constexpr (KG > 1) {
    // Groups 1..KG-1 hand dK, dV to group 0 ([group][value][thread], conflict-free; warp w of
    // every group owns the same key rows and fragments), summed in group order.
    constexpr int NV = 2 * NT * 4 * kThreads;
    float* st = reinterpret_cast<float*>(Ks + 2 * L::tile);
    __syncthreads();
    if (grp > 0) {
      float* mine = st + (grp - 1) * NV;
#pragma unroll
      for (int d = 0; d < NT; ++d)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          mine[(d * 4 + e) * kThreads + tid] = dk[d][e];
          mine[((NT + d) * 4 + e) * kThreads + tid] = dv[d][e];
        }
    }
    __syncthreads();
    if (grp > 0) return;
#pragma unroll
    for (int gs = 0; gs < KG - 1; ++gs)
#pragma unroll
      for (int d = 0; d < NT; ++d)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          dk[d][e] += st[gs * NV + (d * 4 + e) * kThreads + tid];
          dv[d][e] += st[gs * NV + ((NT + d) * 4 + e) * kThreads + tid];
        }
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wk0 + g + hh * 8;
    if (row >= n) continue;
    bf16* kdst = p.dk + row * stride + hoff + 2 * tq;
    bf16* vdst = p.dv + row * stride + hoff + 2 * tq;
#pragma unroll
    for (int d = 0; d < NT; ++d) {
      *reinterpret_cast<__nv_bfloat162*>(kdst + d * 8) =
          __floats2bfloat162_rn(dk[d][2 * hh] * p.scale, dk[d][2 * hh + 1] * p.scale);
      *reinterpret_cast<__nv_bfloat162*>(vdst + d * 8) =
          __floats2bfloat162_rn(dv[d][2 * hh], dv[d][2 * hh + 1]);
    }
  }
}

// dq = bf16(scale · dQ) over the whole [n, heads·hd] f32 accumulator, 4 elements per thread.
__global__ void __launch_bounds__(256)
    dq_convert_kernel(const float* acc, bf16* dq, int64_t count4, float scale) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count4; i += step) {
    const float4 v = reinterpret_cast<const float4*>(acc)[i];
    uint2 o;
    o.x = pack_bf16(v.x * scale, v.y * scale);
    o.y = pack_bf16(v.z * scale, v.w * scale);
    reinterpret_cast<uint2*>(dq)[i] = o;
  }
}

// Configuration per head_dim (measured on an H200, n = 2048..4096):
//   stats: 2 groups of 4 warps; Q fragments in registers for head_dim 64.
//   grad:  Q/dO and K/V fragments re-read from shared memory; head_dim 64: 32-query sub-blocks,
//          at most 168 registers (3 blocks of 4 warps per SM); head_dim 128: 16-query
//          sub-blocks, 2 blocks per SM (shared memory).
constexpr int kStatsGroups = 2;

enum class Mode { Atomic, Deterministic, Fallback };

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

template <int HD, bool QREG, int QSUB, int MINB>
void launch_grad_det(const BwdParams& p, cudaStream_t stream) {
  constexpr int LD = HD + 8;
  const int64_t tiles = (p.n + kTile - 1) / kTile;
  const int head_major = 2 * tiles <= 65535;
  // max(dq: Q, dO, 2 K, 2 V tiles; dk/dv: K, V, 2 Q, 2 dO tiles + 2 LSE, 2 D rows)
  constexpr size_t smem = size_t(6 * kTile * LD) * sizeof(bf16) + 4 * kTile * sizeof(float);
  auto kernel = grad_kernel<HD, QREG, QSUB, MINB>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  const dim3 grid = head_major ? dim3(unsigned(p.heads), unsigned(2 * tiles))
                               : dim3(unsigned(2 * tiles), unsigned(p.heads));
  kernel<<<grid, kThreads, smem, stream>>>(p, head_major);
  RCC_CUDA_LAUNCH_CHECK();
}

template <int HD, int QSUB, int KG, int MINB>
void launch_grad_atomic(const BwdParams& p, cudaStream_t stream) {
  const int64_t tiles = (p.n + kTile - 1) / kTile;
  const int head_major = tiles <= 65535;
  constexpr size_t smem = AtomicLayout<HD, KG>::bytes;
  auto kernel = grad_atomic_kernel<HD, QSUB, KG, MINB>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  const dim3 grid = head_major ? dim3(unsigned(p.heads), unsigned(tiles))
                               : dim3(unsigned(tiles), unsigned(p.heads));
  kernel<<<grid, kThreads * KG, smem, stream>>>(p, head_major);
  RCC_CUDA_LAUNCH_CHECK();
  const int64_t count4 = p.n * p.stride / 4;  // stride = heads · hd, a multiple of 64
  const int64_t blocks = std::min<int64_t>((count4 + 255) / 256, 4096);
  dq_convert_kernel<<<unsigned(blocks), 256, 0, stream>>>(p.dqacc, p.dq, count4, p.scale);
  RCC_CUDA_LAUNCH_CHECK();
}

// Default variants. Measured on an H200, n = 2048, total backward with the forward's LSE
// (without: +25..50 us for stats_kernel):
//   head_dim 64, 12 heads:  deterministic scheme 116-121 us; atomic KG 2 / KG 4: 128-131 us,
//                           KG 1: 158 us (also tried: 128 keys per block, half the dQ
//                           reductions: 132 us, so the reductions are not the limit);
//   head_dim 128, 16 heads: atomic KG 1 270 us; deterministic 303 us; atomic KG 2: 305 us.
// So "auto" (Mode::Atomic) takes the deterministic scheme for head_dim 64 and the atomic one
// (KG 1) for 128.
void launch_mma(const BwdParams& p, Mode mode, cudaStream_t stream) {
  const bool atomic = mode == Mode::Atomic && p.hd == 128;
  if (p.hd == 64) {
    launch_stats<64, true>(p, false, stream);
    launch_grad_det<64, false, 32, 3>(p, stream);
  } else {
    launch_stats<128, false>(p, atomic, stream);
    if (!atomic)
      launch_grad_det<128, false, 16, 1>(p, stream);
    else
      launch_grad_atomic<128, 16, 1, 2>(p, stream);
  }
}

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
  const int64_t hoff = int64_t(h) * hd;
  float* qw = fsh + warp * hd;
  float dsum = 0.0f;
  for (int d = lane; d < hd; d += 32) {
    qw[d] = __bfloat162float(p.q[r * p.stride + hoff + d]);
    dsum = fmaf(__bfloat162float(p.dout[r * p.stride + hoff + d]),
                __bfloat162float(p.o[r * p.stride + hoff + d]), dsum);
  }
  dsum = warp_sum(dsum);
  if (p.lse_in) {  // the forward's LSE: D only
    if (lane == 0) {
      p.lse[int64_t(h) * p.n + r] = p.lse_in[r * p.heads + h];
      p.dd[int64_t(h) * p.n + r] = dsum;
    }
    return;
  }
  __syncwarp();
  const int64_t nk = r + 1;  // keys 0..r
  float m = -INFINITY, l = 0.0f;
  for (int64_t kb = 0; kb < nk; kb += 32) {
    const int64_t key = kb + lane;
    const float s =
        key < nk ? fb_dot(qw, p.k + key * p.stride + hoff, hd) * p.scale_log2 : -INFINITY;
    const float m_new = fmaxf(m, warp_max(s));  // finite: key kb is visible
    l = l * exp2f(m - m_new) + warp_sum(exp2f(s - m_new));
    m = m_new;
  }
  if (lane == 0) {
    p.lse[int64_t(h) * p.n + r] = m + log2f(l);
    p.dd[int64_t(h) * p.n + r] = dsum;
  }
}

// dq of query row r: Σ_j≤r dS_rj · k_j · scale.
__global__ void __launch_bounds__(kFbWarps * 32) fb_dq_kernel(BwdParams p) {
  extern __shared__ float fsh[];  // [kFbWarps][2][hd]: q row, dout row
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = p.hd;
  if (r >= p.n) return;
  const int64_t hoff = int64_t(h) * hd;
  float* qw = fsh + warp * 2 * hd;
  float* gw = qw + hd;
  for (int d = lane; d < hd; d += 32) {
    qw[d] = __bfloat162float(p.q[r * p.stride + hoff + d]);
    gw[d] = __bfloat162float(p.dout[r * p.stride + hoff + d]);
  }
  __syncwarp();
  const float lse = p.lse[int64_t(h) * p.n + r], D = p.dd[int64_t(h) * p.n + r];
  float acc[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
  const int64_t nk = r + 1;
  for (int64_t kb = 0; kb < nk; kb += 32) {
    const int64_t key = kb + lane;
    float ds = 0.0f;
    if (key < nk) {
      const float s = fb_dot(qw, p.k + key * p.stride + hoff, hd) * p.scale_log2;
      const float pr = exp2f(s - lse);
      const float dpv = fb_dot(gw, p.v + key * p.stride + hoff, hd);
      ds = pr * (dpv - D);
    }
    const int cnt = nk - kb < 32 ? int(nk - kb) : 32;
    for (int j = 0; j < cnt; ++j) {
      const float dsj = __shfl_sync(0xffffffffu, ds, j);
      const bf16* krow = p.k + (kb + j) * p.stride + hoff;
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
    if (d < hd) p.dq[r * p.stride + hoff + d] = __float2bfloat16_rn(acc[i] * p.scale);
  }
}

// dk, dv of key row j: Σ_i≥j dS_ij · q_i · scale and Σ_i≥j P_ij · dout_i.
__global__ void __launch_bounds__(kFbWarps * 32) fb_dkdv_kernel(BwdParams p) {
  extern __shared__ float fsh[];  // [kFbWarps][2][hd]: k row, v row
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t kj = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = p.hd;
  if (kj >= p.n) return;
  const int64_t hoff = int64_t(h) * hd;
  float* kw = fsh + warp * 2 * hd;
  float* vw = kw + hd;
  for (int d = lane; d < hd; d += 32) {
    kw[d] = __bfloat162float(p.k[kj * p.stride + hoff + d]);
    vw[d] = __bfloat162float(p.v[kj * p.stride + hoff + d]);
  }
  __syncwarp();
  float ak[8], av[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) ak[i] = av[i] = 0.0f;
  for (int64_t qb = kj; qb < p.n; qb += 32) {
    const int64_t qi = qb + lane;
    float pr = 0.0f, ds = 0.0f;
    if (qi < p.n) {
      const bf16* qrow = p.q + qi * p.stride + hoff;
      const bf16* grow = p.dout + qi * p.stride + hoff;
      // Same operand order as the other kernels: q row (in fb_stats/fb_dq from shared memory)
      // times k row, sequential over d.
      float s = 0.0f, dpv = 0.0f;
      for (int d = 0; d < hd; ++d) {
        s = fmaf(__bfloat162float(qrow[d]), kw[d], s);
        dpv = fmaf(__bfloat162float(grow[d]), vw[d], dpv);
      }
      pr = exp2f(s * p.scale_log2 - p.lse[int64_t(h) * p.n + qi]);
      ds = pr * (dpv - p.dd[int64_t(h) * p.n + qi]);
    }
    const int cnt = p.n - qb < 32 ? int(p.n - qb) : 32;
    for (int j = 0; j < cnt; ++j) {
      const float pj = __shfl_sync(0xffffffffu, pr, j);
      const float dsj = __shfl_sync(0xffffffffu, ds, j);
      const bf16* qrow = p.q + (qb + j) * p.stride + hoff;
      const bf16* grow = p.dout + (qb + j) * p.stride + hoff;
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
      p.dk[kj * p.stride + hoff + d] = __float2bfloat16_rn(ak[i] * p.scale);
      p.dv[kj * p.stride + hoff + d] = __float2bfloat16_rn(av[i]);
    }
  }
}

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

bool aligned(const void* ptr, size_t a) {
  return reinterpret_cast<uintptr_t>(ptr) % a == 0;
}

// RCC_CUDA_ATTN_BWD: unset, "" or "auto" (tensor cores, atomic dQ for head_dim 128),
// "deterministic" (tensor cores, dQ per query tile: bit-reproducible) or "fallback". Read on every
// launch, so that a check program can switch between the paths.
Mode mode_from_env() {
  const char* e = std::getenv("RCC_CUDA_ATTN_BWD");
  if (!e || !*e || !std::strcmp(e, "auto")) return Mode::Atomic;
  if (!std::strcmp(e, "deterministic")) return Mode::Deterministic;
  RCC_CHECK(!std::strcmp(e, "fallback"),
            "RCC_CUDA_ATTN_BWD must be 'auto', 'deterministic' or 'fallback' (got '", e, "')");
  return Mode::Fallback;
}

// Workspace layout: f32 LSE [heads][n], D [heads][n], then (from a 16-byte boundary) the f32 dQ
// accumulators [n][heads·hd] of the atomic path.
size_t dq_acc_offset(int64_t n, int heads) {
  return (size_t(2) * size_t(n) * size_t(heads) * sizeof(float) + 15) / 16 * 16;
}

}  // namespace

size_t attention_backward_workspace(int64_t n, int heads, int hd) {
  if (n <= 0 || heads <= 0) return 0;
  size_t bytes = dq_acc_offset(n, heads);
  if (hd == 64 || hd == 128) bytes += size_t(n) * size_t(heads) * size_t(hd) * sizeof(float);
  return bytes;
}

void launch_attention_backward(const bf16* q, const bf16* k, const bf16* v, const bf16* out,
                               const float* lse, const bf16* dout, int64_t n, int heads, int hd,
                               bf16* dq, bf16* dk, bf16* dv, void* workspace, cudaStream_t stream) {
  if (n <= 0) return;
  RCC_CHECK(heads >= 1 && heads <= 65535, "CUDA attention backward: heads ", heads,
            " is not in 1..65535");
  RCC_CHECK(hd >= 1 && hd <= 256, "CUDA attention backward: head_dim ", hd, " is not in 1..256");
  RCC_CHECK(n <= (int64_t(1) << 31) - 1 - kTile, "CUDA attention backward: ", n,
            " tokens is too many");
  RCC_CHECK(q && k && v && out && dout && dq && dk && dv && workspace,
            "CUDA attention backward: null buffer");
  RCC_CHECK(aligned(workspace, 16), "CUDA attention backward: workspace not 16-byte aligned");
  BwdParams p;
  p.q = q, p.k = k, p.v = v, p.o = out, p.dout = dout;
  p.dq = dq, p.dk = dk, p.dv = dv;
  p.lse = static_cast<float*>(workspace);
  p.dd = p.lse + n * heads;
  p.lse_in = lse;
  p.dqacc =
      reinterpret_cast<float*>(static_cast<unsigned char*>(workspace) + dq_acc_offset(n, heads));
  p.n = n;
  p.stride = int64_t(heads) * hd;
  p.heads = heads, p.hd = hd;
  p.scale = 1.0f / std::sqrt(float(hd));
  p.scale_log2 = p.scale * 1.4426950408889634f;

  Mode mode = mode_from_env();
  const bool mma_ok = (hd == 64 || hd == 128) && aligned(q, 16) && aligned(k, 16) &&
                      aligned(v, 16) && aligned(out, 16) && aligned(dout, 16) && aligned(dq, 4) &&
                      aligned(dk, 4) && aligned(dv, 4);
  if (!mma_ok) mode = Mode::Fallback;
  if (mode == Mode::Atomic && !aligned(dq, 8)) mode = Mode::Deterministic;  // dq_convert stores
  if (mode == Mode::Fallback)
    launch_fallback(p, stream);
  else
    launch_mma(p, mode, stream);
}

}  // namespace rcc::cuda
