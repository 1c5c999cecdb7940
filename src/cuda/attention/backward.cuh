// Internals of the CUDA attention backward shared by its kernel files (overview, path selection
// and workspace: backward.cu): tile geometry, kernel parameters, fragment addressing
// of the padded shared-memory tiles, tile loads, barriers, block coordinates, the score products,
// and the launchers that backward.cu calls. Included only by .cu files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/kernels.h"
#include "cuda/mma.cuh"
#include "cuda/train_kernels.h"

namespace rcc::cuda::attn_bwd {

constexpr int kTile = 64;      // queries per query tile = keys per key tile
constexpr int kThreads = 128;  // 4 warps × 16 rows

struct BwdParams {  // 128 bytes (see n, ld)
  // q, k, v and dq, dk, dv: row r, head h at r·qkv_stride + h·qkv_head (separate [rows, heads·hd]
  // buffers, or the fused qkv [rows, heads, 3, hd] and its gradient); o, dout and the dQ
  // accumulators: [rows, heads·hd] (r·stride + h·hd).
  const bf16* q;
  const bf16* k;
  const bf16* v;
  const bf16* o;
  const bf16* dout;
  bf16* dq;
  bf16* dk;
  bf16* dv;
  float* lse;           // [heads][ld], log2 domain
  float* dd;            // [heads][ld], D = rowsum(dout ∘ out)
  const float* lse_in;  // the forward's LSE [n][heads] (log2 domain), or null: recomputed
  float* dqacc;         // atomic path: f32 dQ accumulators [n][heads·hd] (unscaled)
  // n: rows of the sequence (of the batch before for_sequence); ld: row count of the batch, the
  // stats' leading dimension. 32-bit (rows < 2^31 is checked), which keeps the struct at 128
  // bytes: at 136 nvcc addressed the kernel parameter through a computed pointer. Products of a
  // row index and a stride are formed in 64 bits (the row indices are int64_t).
  int32_t n, ld;
  int32_t stride;      // heads · hd
  int32_t qkv_stride;  // the q/k/v rows' stride
  uint16_t heads, hd;
  int32_t qkv_head;  // the q/k/v heads' offset
  float scale;       // 1/sqrt(hd)
  float scale_log2;  // scale · log2(e)
};

static_assert(sizeof(BwdParams) == 128, "BwdParams: keep the kernel parameter at 128 bytes");

// The parameters of one sequence of the batch, rows [begin, begin + n): every row-indexed
// pointer moved to row `begin` (the stats by `begin` within each head's row of ld). Host side
// (the per-sequence launches); the grad kernels keep the batch's parameters and fold `begin`
// into their offsets instead, because a modified copy of the struct in registers slows them.
inline BwdParams for_sequence(const BwdParams& b, int64_t begin, int64_t n) {
  BwdParams p = b;
  const int64_t off = begin * b.stride, qoff = begin * b.qkv_stride;
  p.q += qoff, p.k += qoff, p.v += qoff, p.o += off, p.dout += off;
  p.dq += qoff, p.dk += qoff, p.dv += qoff;
  p.lse += begin, p.dd += begin;
  if (p.lse_in) p.lse_in += begin * b.heads;
  if (p.dqacc) p.dqacc += off;
  p.n = int32_t(n);
  return p;
}
// Offsets of head h at row 0 of the sequence that starts at batch row `begin`: `o` for o, dout
// (and the dQ accumulators, at head 0), `qkv` for q, k, v, dq, dk, dv.
struct HeadOffsets {
  int64_t o, qkv;
};
__device__ __forceinline__ HeadOffsets head_offsets(const BwdParams& p, int64_t begin, int h) {
  return {begin * p.stride + int64_t(h) * p.hd, begin * p.qkv_stride + int64_t(h) * p.qkv_head};
}
// A grad block's work: tile `tile` (of kind 0: queries, 1: keys) of the sequence at rows
// [begin, begin + n), head h. Grid (heads, tiles of the launch's chunk): the heads along x, so
// that each tile's blocks of every head are dispatched together.
struct BlockTile {
  int64_t begin, n;
  int tile, kind, h;
};
__device__ __forceinline__ BlockTile block_tile(const TileChunk& tiles) {
  const AttnTile& t = tiles.t[blockIdx.y];
  return {t.begin, t.n, t.tile, t.kind, int(blockIdx.x)};
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

// Pᵀ and dSᵀ of one warp's 16 keys × SN·8 queries (transposed orientation: dk/dv blocks of both
// schemes), in place: st holds Sᵀ on entry, Pᵀ = 2^(Sᵀ·c − LSE_col) on return (0 where masked:
// key > query, or query ≥ n); dpt holds dPᵀ on entry, dSᵀ = Pᵀ ⊙ (dPᵀ − D_col) on return.
// Element (j, e): key wk0 + g + (e>>1)·8, query q0 + col0 + 8j + 2tq + (e&1); Lb, Db: the query
// tile's LSE and D in shared memory. The mask is a compile-time choice (transposed_probabilities
// picks it per tile), so the common unmasked tile carries no mask arithmetic: with a run-time
// mask nvcc does not unswitch this loop when the tile comes from a table, and the backward kernel
// is markedly slower (bench/experiments/attention-batched-tile-table.md).
template <bool kMask, int SN>
__device__ __forceinline__ void transposed_probabilities_as(float (&st)[SN][4], float (&dpt)[SN][4],
                                                            const float* Lb, const float* Db,
                                                            int col0, int64_t q0, int64_t wk0,
                                                            int64_t n, int g, int tq, float c) {
#pragma unroll
  for (int j = 0; j < SN; ++j) {
    const int col = col0 + j * 8 + 2 * tq;  // query within the tile
    const float2 l2 = *reinterpret_cast<const float2*>(Lb + col);
    const float2 d2 = *reinterpret_cast<const float2*>(Db + col);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t qry = q0 + col + (e & 1);
      const int64_t key = wk0 + g + (e >> 1) * 8;
      const bool masked = kMask && (key > qry || qry >= n);
      const float lv = (e & 1) ? l2.y : l2.x;
      const float dv = (e & 1) ? d2.y : d2.x;
      const float pv = masked ? 0.0f : exp2_ftz(fmaf(st[j][e], c, -lv));
      st[j][e] = pv;
      dpt[j][e] = pv * (dpt[j][e] - dv);
    }
  }
}
template <int SN>
__device__ __forceinline__ void transposed_probabilities(bool need_mask, float (&st)[SN][4],
                                                         float (&dpt)[SN][4], const float* Lb,
                                                         const float* Db, int col0, int64_t q0,
                                                         int64_t wk0, int64_t n, int g, int tq,
                                                         float c) {
  if (need_mask)
    transposed_probabilities_as<true>(st, dpt, Lb, Db, col0, q0, wk0, n, g, tq, c);
  else
    transposed_probabilities_as<false>(st, dpt, Lb, Db, col0, q0, wk0, n, g, tq, c);
}

// ---- launchers; each file instantiates the configurations that launch_mma selects ----
// backward_stats.cu: LSE and D into the workspace ([heads][n] each), from the
// forward's LSE (p.lse_in; also zeroes the dQ accumulators when zero_dq) or recomputed.
template <int HD, bool ST_QREG>
void launch_stats(const BwdParams& p, bool zero_dq, cudaStream_t stream);
// backward_deterministic.cu: the deterministic scheme (dq blocks and dk/dv blocks).
// The grad launchers run one block row per tile of `tiles` (causal_tiles), a launch per
// kTilesPerLaunch tiles.
template <int HD, bool QREG, int QSUB, int MINB>
void launch_grad_det(const BwdParams& p, const std::vector<AttnTile>& tiles, cudaStream_t stream);
// backward_atomic.cu: the atomic scheme (dk/dv blocks adding dQ to f32
// accumulators), then dq = bf16(scale · dQ).
template <int HD, int QSUB, int KG, int MINB>
void launch_grad_atomic(const BwdParams& p, const std::vector<AttnTile>& tiles,
                        cudaStream_t stream);
// dq = bf16(scale · dQ) over every row of the batch from the f32 accumulators (after the atomic
// schemes; backward_atomic.cu).
// With `fold` (half 8, 16 or 32): the inverse rotary applied to each row's dq in f32 before the
// rounding (rows with pos −1 unrotated).
void launch_dq_convert(const BwdParams& p, cudaStream_t stream, const RotaryGrad* fold = nullptr);
// backward_sm90.cu (built for sm_90a): the atomic scheme on wgmma, head_dim 64;
// then launch_dq_convert. Only where cuda::sm90_available().
// Builds its own tile table (sequence by sequence).
// Whether launch_grad_sm90 can fold an inverse rotary of `half` pairs per head: its dk epilogue
// pairs 8-column groups of one thread, so half 8, 16 or 32 (within head_dim hd).
inline bool rotary_foldable(int half, int hd) {
  return (half == 8 || half == 16 || half == 32) && 2 * half <= hd;
}
// `fold` (or null): the inverse rotary folded into dk (the epilogue) and dq (the conversion).
void launch_grad_sm90(const BwdParams& p, const SeqRows* seqs, int64_t n_seqs,
                      const RotaryGrad* fold, cudaStream_t stream);
// backward_fallback.cu: the scalar kernels (any head_dim 1..256, any alignment).
void launch_fallback(const BwdParams& p, cudaStream_t stream);

}  // namespace rcc::cuda::attn_bwd
