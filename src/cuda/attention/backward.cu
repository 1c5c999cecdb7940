// Backward of causal self-attention over a batch of sequences, each from position 0
// (FlashAttention-2 style: the n×n score matrix is recomputed tile by tile and never stored).
// The tiles of every sequence go into one launch (causal_tiles: the longest work first, a
// launch per cuda::kTilesPerLaunch tiles, passed as kernel parameters), so that the sequences
// fill each other's tails; a block works on its tile's sequence (rows [begin, begin + n)) as on
// a batch of its own. The stats ([heads][rows]) are indexed by batch row. q, k, v and dq, dk, dv
// are read and written in either layout of QkvLayout (separate [rows, heads·hd] buffers, or the
// training pass's fused qkv [rows, heads, 3, hd] and its gradient); o, dout and the atomic
// schemes' f32 dQ accumulators are [rows, heads·hd].
//
// Tensor-core path (head_dim 64 and 128, 16-byte aligned inputs): tiles of 64 queries × 64 keys,
// groups of 4 warps (warp w owns 16 rows of a tile), mma.sync m16n8k16 (bf16 in, f32
// accumulate), cp.async double buffers, shared-memory rows padded to HD + 8 bf16 (conflict-free
// ldmatrix). Launches:
//
//  1. LSE and D = rowsum(dout ∘ out) into the workspace ([heads][n] each;
//     backward_stats.cu):
//     - prep_kernel when the forward stored its LSE (AttentionArgs::lse, [n][heads]): D, the LSE
//       copied into [heads][n], and on the atomic path the f32 dQ accumulators zeroed;
//     - else stats_kernel, one block per (query tile, head), 2 groups of 4 warps that split the
//       key tiles 0..diagonal (even / odd, each with its own K double buffer and named barrier):
//       D_i (f32, from the bf16 out that the forward stored); S = Q·Kᵀ, causal mask, online max /
//       sum in the log2 domain, the two groups' (max, sum) merged in a fixed order →
//       LSE_i = log2 Σ_j 2^(s_ij·scale·log2 e) (+ a memset of the dQ accumulators if atomic).
//  2. Deterministic scheme (backward_deterministic.cu; RCC_CUDA_ATTN_BWD=deterministic;
//     the mma.sync default for head_dim 64, the faster scheme there: launch_mma): grad_kernel,
//     dq blocks and dk/dv blocks in ONE grid (both need only LSE and D, so their tails overlap),
//     interleaved longest-first: per sequence dk/dv of key tile j next to dq of query tile T-1-j
//     (both T-j tiles of work). 7 tile products per tile pair.
//     - dq block (query tile, head), warp rows = queries. dQ is deterministic (no atomics): every
//       dq row is owned by exactly one warp. For key tiles 0..diagonal: S = Q·Kᵀ,
//       P = 2^(S·c − LSE), dP = dO·Vᵀ, dS = P ⊙ (dP − D), dQ += dS·K; dq = scale·dQ.
//     - dk/dv block (key tile, head), warp rows = keys, transposed orientation so that everything
//       stays in registers: for query tiles i ≥ the key tile, Sᵀ = K·Qᵀ, Pᵀ = 2^(Sᵀ·c − LSE_col),
//       dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − D_col), dV += Pᵀ·dO, dK += dSᵀ·Q (the C fragments of Pᵀ,
//       dSᵀ are the A fragments of the next MMA); dk = scale·dK, dv = dV, each written once.
//       Q, dO, LSE, D of the next query tile are prefetched while the current one is processed.
//     Atomic scheme (backward_atomic.cu; FlashAttention-2's; the default for
//     head_dim 128): grad_atomic_kernel, only dk/dv blocks, which also store dSᵀ in shared memory
//     and add their share dS·K of each query tile's dQ to f32 accumulators
//     (red.global.add.v2.f32): 5 tile products; then dq_convert_kernel writes
//     dq = bf16(scale · dQ). Not bit-reproducible (addition order).
//     Hopper scheme (backward_sm90.cu; the default for head_dim 64 on compute
//     capability 9.0, built for sm_90a): the atomic scheme's 5 products issued as
//     wgmma.mma_async on 64×64 tiles straight from 128-byte-swizzled shared memory, two
//     warpgroups per 128-key block (their dQ shares summed before the reductions); atomic dQ
//     (not bit-reproducible; RCC_CUDA_ATTN_BWD=deterministic or mma takes the mma.sync kernels).
//  (c = scale·log2 e.) Masking: only on the diagonal tile (key > query) and, in dk/dv blocks, the
//  last partial query tile (query ≥ n); masked probabilities are set to 0 (never the exp of a
//  masked score). Rows ≥ n read as zeros and are never written. On the diagonal tile, 16-row
//  groups that none of a warp's rows can see are skipped.
//
// Fallback (backward_fallback.cu; any head_dim 1..256, any alignment; forced with
// RCC_CUDA_ATTN_BWD=fallback): three scalar kernels, one warp per row, f32 throughout (stats: LSE
// (or the forward's, copied) and D per query row; dq per query row, keys in blocks of 32 lanes;
// dk/dv per key row, queries in blocks of 32 lanes). O(n²·hd) work per kernel with no tiling:
// slow, obviously correct, deterministic.
//
// Numerics: bf16 inputs, f32 math and accumulation, bf16 outputs. On the tensor-core path P and
// dS are rounded to bf16 as MMA operands (for dV += Pᵀ·dO, dK += dSᵀ·Q, dQ += dS·K), as the
// forward rounds P before P·V; LSE, D, dS = P·(dP − D) itself and all accumulators stay f32. The
// fallback never rounds intermediates. D uses the bf16 `out` (what the training forward stores).
//
// Workspace: f32 LSE [heads][rows], f32 D [heads][rows], then (head_dim 128) the f32 dQ
// accumulators [rows][heads·hd] of the atomic scheme.
//
// This file: the path selection (launch_mma, launch_attention_backward) and the workspace. Shared
// tile helpers: backward.cuh; register fragment layouts: cuda/mma.cuh.
#include <cmath>
#include <cstdint>

#include "core/settings.h"
#include "cuda/attention/backward.cuh"

namespace rcc::cuda {
namespace attn_bwd {
namespace {

// RCC_CUDA_ATTN_BWD (core/settings.h), read at every launch so that a check program can switch
// paths (set_runtime_settings). Auto: the sm_90 kernel where it runs (head_dim 64 on compute
// capability 9.0), else the mma.sync kernels as Mma; Mma: mma.sync, atomic dQ for head_dim 128,
// deterministic for 64; Deterministic: mma.sync, dQ per query tile (bit-reproducible); Fallback:
// the scalar kernels.
using Mode = AttnBackwardPath;

// Whether the wgmma kernel (backward_sm90.cu) serves head_dim `hd` here.
bool use_sm90(int hd) {
  return hd == 64 && sm90_available();
}

// Configuration per head_dim (chosen for windows of n = 2048..4096 rows):
//   stats: 2 groups of 4 warps; Q fragments in registers for head_dim 64.
//   grad:  Q/dO and K/V fragments re-read from shared memory; head_dim 64: 32-query sub-blocks,
//          at most 168 registers (3 blocks of 4 warps per SM); head_dim 128: 16-query
//          sub-blocks, 2 blocks per SM (shared memory).
//
// Default variants: the mma.sync kernels (Mode::Mma, and Mode::Auto off Hopper) take the
// deterministic scheme for head_dim 64 and the atomic one with one key group per block (KG 1) for
// 128, the fastest scheme and key-group count at each head_dim (the dQ reductions are not what
// limits the atomic scheme at head_dim 64). On compute capability 9.0 head_dim 64 takes the
// wgmma kernel of backward_sm90.cu (Mode::Auto). Timings: bench/results/training_gpu.md.
// The tensor-core path over the batch: LSE and D for every row (prep_kernel from the forward's
// LSE in one launch; else stats_kernel per sequence), then the grad kernel over the tiles of every
// sequence in one launch.
bool launch_mma(const BwdParams& batch, const SeqRows* seqs, int64_t n_seqs, Mode mode,
                const RotaryGrad* fold, cudaStream_t stream) {
  const bool sm90 = mode == Mode::Auto && use_sm90(batch.hd);
  const bool atomic = sm90 || ((mode == Mode::Auto || mode == Mode::Mma) && batch.hd == 128);
  const bool hd64 = batch.hd == 64;
  if (batch.lse_in) {
    hd64 ? launch_stats<64, true>(batch, atomic, stream)
         : launch_stats<128, false>(batch, atomic, stream);
  } else {
    for (int64_t s = 0; s < n_seqs; ++s) {
      const BwdParams p = for_sequence(batch, seqs[s].begin, seqs[s].n);
      hd64 ? launch_stats<64, true>(p, false, stream) : launch_stats<128, false>(p, false, stream);
    }
    if (atomic)  // every row: dq_convert_kernel writes dq for all of them
      RCC_CUDA_CHECK(cudaMemsetAsync(
          batch.dqacc, 0, size_t(batch.ld) * size_t(batch.stride) * sizeof(float), stream));
  }
  if (sm90) {
    launch_grad_sm90(batch, seqs, n_seqs, fold, stream);
    return fold != nullptr;
  }
  const std::vector<AttnTile> tiles = causal_tiles(seqs, n_seqs, kTile, !atomic, true);
  if (hd64)
    launch_grad_det<64, false, 32, 3>(batch, tiles, stream);
  else if (!atomic)
    launch_grad_det<128, false, 16, 1>(batch, tiles, stream);
  else
    launch_grad_atomic<128, 16, 1, 2>(batch, tiles, stream);
  return false;
}

// Workspace layout: f32 LSE [heads][rows], D [heads][rows], then (from a 16-byte boundary) the f32
// dQ accumulators [rows][heads·hd] of the atomic path.
size_t dq_acc_offset(int64_t n, int heads) {
  return (size_t(2) * size_t(n) * size_t(heads) * sizeof(float) + 15) / 16 * 16;
}

}  // namespace
}  // namespace attn_bwd

bool attention_backward_uses_sm90(int hd) {
  return attn_bwd::use_sm90(hd);
}

size_t attention_backward_workspace(int64_t rows, int heads, int hd) {
  if (rows <= 0 || heads <= 0) return 0;
  size_t bytes = attn_bwd::dq_acc_offset(rows, heads);
  // The f32 dQ accumulators: only the atomic schemes (head_dim 128; 64 on sm_90) use them.
  if (hd == 128 || attn_bwd::use_sm90(hd))
    bytes += size_t(rows) * size_t(heads) * size_t(hd) * sizeof(float);
  return bytes;
}

bool launch_attention_backward(const bf16* q, const bf16* k, const bf16* v, QkvLayout layout,
                               const bf16* out, const float* lse, const bf16* dout,
                               const SeqRows* seqs, int64_t n_seqs, int64_t rows, int heads, int hd,
                               bf16* dq, bf16* dk, bf16* dv, void* workspace, cudaStream_t stream,
                               const RotaryGrad* fold) {
  using namespace attn_bwd;
  if (n_seqs <= 0) return false;
  RCC_CHECK(heads >= 1 && heads <= 65535, "CUDA attention backward: heads ", heads,
            " is not in 1..65535");
  RCC_CHECK(hd >= 1 && hd <= 256, "CUDA attention backward: head_dim ", hd, " is not in 1..256");
  RCC_CHECK(rows >= 1 && rows <= (int64_t(1) << 31) - 1 - kTile, "CUDA attention backward: ", rows,
            " rows is too many");
  for (int64_t s = 0; s < n_seqs; ++s)
    RCC_CHECK(seqs[s].n >= 1 && seqs[s].begin >= 0 && seqs[s].begin + seqs[s].n <= rows,
              "CUDA attention backward: sequence ", s, " (rows ", seqs[s].begin, " + ", seqs[s].n,
              ") is empty or outside the batch of ", rows);
  RCC_CHECK(q && k && v && out && dout && dq && dk && dv && workspace,
            "CUDA attention backward: null buffer");
  RCC_CHECK(aligned(workspace, 16), "CUDA attention backward: workspace not 16-byte aligned");
  RCC_CHECK(layout.head_stride >= hd &&
                layout.row_stride >= layout.head_stride * (heads - 1) + hd &&
                layout.row_stride < (int64_t(1) << 31),
            "CUDA attention backward: q/k/v layout (row stride ", layout.row_stride,
            ", head stride ", layout.head_stride, ") does not hold ", heads, " heads of ", hd);
  BwdParams p{};
  p.q = q, p.k = k, p.v = v, p.o = out, p.dout = dout;
  p.dq = dq, p.dk = dk, p.dv = dv;
  p.lse = static_cast<float*>(workspace);
  p.dd = p.lse + rows * heads;
  p.lse_in = lse;
  p.dqacc =
      reinterpret_cast<float*>(static_cast<unsigned char*>(workspace) + dq_acc_offset(rows, heads));
  p.n = int32_t(rows);  // rows < 2^31 checked above
  p.ld = int32_t(rows);
  p.stride = heads * hd;
  p.qkv_stride = int32_t(layout.row_stride);
  p.qkv_head = int32_t(layout.head_stride);
  p.heads = uint16_t(heads), p.hd = uint16_t(hd);
  p.scale = 1.0f / std::sqrt(float(hd));
  p.scale_log2 = p.scale * 1.4426950408889634f;

  Mode mode = runtime_settings().cuda_attn_bwd;
  // The tensor-core kernels load q/k/v rows 16 bytes at a time and store dq/dk/dv 4 (the atomic
  // schemes' dq_convert 8) bytes at a time.
  const int64_t rs = layout.row_stride, hs = layout.head_stride;
  const bool mma_ok = (hd == 64 || hd == 128) && aligned(q, 16) && aligned(k, 16) &&
                      aligned(v, 16) && rs % 8 == 0 && hs % 8 == 0 && aligned(out, 16) &&
                      aligned(dout, 16) && aligned(dq, 4) && aligned(dk, 4) && aligned(dv, 4);
  if (!mma_ok) mode = Mode::Fallback;
  if ((mode == Mode::Auto || mode == Mode::Mma) && !aligned(dq, 8))
    mode = Mode::Deterministic;  // dq_convert stores 8 bytes
  if (mode == Mode::Fallback) {
    for (int64_t s = 0; s < n_seqs; ++s)
      launch_fallback(for_sequence(p, seqs[s].begin, seqs[s].n), stream);
    return false;
  }
  // The inverse rotary folds into the wgmma kernel's dk epilogue and the dQ conversion.
  const bool foldable = fold && fold->pos && fold->rope && rotary_foldable(fold->half, hd);
  return launch_mma(p, seqs, n_seqs, mode, foldable ? fold : nullptr, stream);
}

}  // namespace rcc::cuda
