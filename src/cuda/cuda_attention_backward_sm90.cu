// Attention backward on Hopper's warpgroup tensor cores (wgmma, sm_90a; overview and path
// selection: cuda_attention_backward.cu). The atomic scheme of cuda_attention_backward_atomic.cu
// (5 tile products per (key tile, query tile) pair, dQ added to f32 accumulators) with every
// product issued as wgmma.mma_async by one warpgroup (4 warps, 128 threads) instead of mma.sync
// by single warps: the operands come straight from shared memory (descriptors), so there are no
// ldmatrix loads and the tensor cores see 64×64×16 products.
//
// One block per (64-key tile, head); for query tiles i ≥ the key tile:
//   Sᵀ  = K·Qᵀ            A = K [key][d] (smem),            B = Q [query][d] (smem)
//   dPᵀ = V·dOᵀ           A = V [key][d] (smem),            B = dO [query][d] (smem)
//   Pᵀ  = 2^(Sᵀ·c − LSE), dSᵀ = Pᵀ ⊙ (dPᵀ − D)   in registers (transposed_probabilities)
//   dV += Pᵀ·dO           A = Pᵀ (registers, bf16),        B = dO read transposed (MN-major)
//   dK += dSᵀ·Q           A = dSᵀ (registers, bf16),       B = Q read transposed
//   dQ_i = dS·K           A = dSᵀ [key][query] (smem) read transposed, B = K read transposed;
//                         added to the f32 accumulators with red.global.add.v4 (unscaled)
// then dk = scale·dK, dv = dV, and dq = bf16(scale · dQ) by dq_convert_kernel over the batch.
// Warp w of the warpgroup owns accumulator rows 16w..16w+15 (keys for Sᵀ, dPᵀ, dK, dV; queries
// for dQ) with the register layout of mma.sync's C fragments repeated over 8-column groups
// (cuda/cuda_mma.cuh), so the masking and probability code is the mma.sync kernels' own, and a
// C fragment pair converts to an A fragment in registers (as in FlashAttention-2).
//
// Shared memory: 64 × 64 bf16 tiles in wgmma's 128-byte swizzle (layout and descriptors:
// cuda/cuda_wgmma.cuh): K, V, Q[2], dO[2] (cp.async double buffer), dSᵀ; then LSE, D [2][64] f32.
// head_dim 64 only (a row of a tile is one 128-byte swizzle row); other head dims and other GPUs
// take the mma.sync kernels. Numerics as the atomic scheme: P, dS rounded to bf16 as operands,
// f32 accumulation, not bit-reproducible (order of the dQ additions).
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "cuda/cuda_attention_backward.cuh"
#include "cuda/cuda_wgmma.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

using namespace sm90;
constexpr int kHd = 64;                                             // head_dim of this kernel
constexpr int kStatsBytes = 4 * kTile * 4;                          // LSE, D [2][kTile] f32
constexpr size_t kSmemBytes = 7 * kTileBytes + kStatsBytes + 1024;  // + alignment slack

// p[0..3] += v: one fire-and-forget vector reduction (sm_90), p 16-byte aligned.
__device__ __forceinline__ void red_add4(float* p, float4 v) {
  asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"l"(p), "f"(v.x), "f"(v.y),
               "f"(v.z), "f"(v.w)
               : "memory");
}

template <int MINB>
__global__ void __launch_bounds__(kThreads, MINB)
    grad_sm90_kernel(BwdParams p, const __grid_constant__ TileChunk tiles) {
#if RCC_SM90A_BODY
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* base = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
  unsigned char* Ks = base;
  unsigned char* Vs = Ks + kTileBytes;
  unsigned char* Qs = Vs + kTileBytes;       // [2] tiles
  unsigned char* dOs = Qs + 2 * kTileBytes;  // [2] tiles
  unsigned char* dSs = dOs + 2 * kTileBytes;
  float* Ls = reinterpret_cast<float*>(dSs + kTileBytes);  // [2][kTile]
  float* Dsm = Ls + 2 * kTile;                             // [2][kTile]

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const BlockTile bt = block_tile(tiles);
  const int kt = bt.tile, h = bt.h;
  const int64_t n = bt.n, stride = p.stride;
  const int64_t k0 = int64_t(kt) * kTile;
  const int64_t wk0 = k0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const int64_t hoff = bt.begin * stride + int64_t(h) * kHd;  // row 0 of the sequence, head h
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * p.ld + bt.begin;
  const float* dd_h = p.dd + int64_t(h) * p.ld + bt.begin;
  float* dqacc = p.dqacc + hoff;

  auto load_q = [&](int i, int buf) {  // query tile i: Q, dO, LSE, D
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_sw<kTile, kThreads>(Qs + buf * kTileBytes, p.q + hoff, r0, n, stride, tid);
    load_tile_sw<kTile, kThreads>(dOs + buf * kTileBytes, p.dout + hoff, r0, n, stride, tid);
    const int r = tid & (kTile - 1);
    const int64_t row = r0 + r;
    const bool valid = row < n;
    if (tid < kTile)
      cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
    else
      cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
  };

  load_tile_sw<kTile, kThreads>(Ks, p.k + hoff, k0, n, stride, tid);
  load_tile_sw<kTile, kThreads>(Vs, p.v + hoff, k0, n, stride, tid);
  load_q(kt, 0);
  cp_async_commit();

  const uint64_t dK_k = desc_k_major(smem_addr(Ks)), dV_k = desc_k_major(smem_addr(Vs));
  const uint64_t dK_mn = desc_mn_major(smem_addr(Ks));
  const uint64_t dS_mn = desc_mn_major(smem_addr(dSs));

  float dk[8][4], dv[8][4];
  zero(dk);
  zero(dv);

  for (int i = kt, step = 0; i < nqt; ++i, ++step) {
    const int buf = step & 1;
    if (i + 1 < nqt) {
      load_q(i + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_async_smem();
    __syncthreads();
    const uint32_t q_addr = smem_addr(Qs + buf * kTileBytes);
    const uint32_t do_addr = smem_addr(dOs + buf * kTileBytes);
    const float* Lb = Ls + buf * kTile;
    const float* Db = Dsm + buf * kTile;
    const int64_t q0 = int64_t(i) * kTile;

    // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (keys × queries; reduction over d).
    float st[8][4], dpt[8][4];
    {
      const uint64_t dQ_k = desc_k_major(q_addr), dO_k = desc_k_major(do_addr);
      fence_operand(st);
      fence_operand(dpt);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kHd / 16; ++kk)
        wgmma_ss<0, 0>(st, dK_k + kk * kStepK, dQ_k + kk * kStepK, kk > 0);
#pragma unroll
      for (int kk = 0; kk < kHd / 16; ++kk)
        wgmma_ss<0, 0>(dpt, dV_k + kk * kStepK, dO_k + kk * kStepK, kk > 0);
      wgmma_commit();
      wgmma_wait<0>();
      fence_operand(st);
      fence_operand(dpt);
    }
    // Pᵀ over st, dSᵀ over dpt (0 where masked: key > query on the diagonal tile, query ≥ n).
    transposed_probabilities(i == kt || q0 + kTile > n, st, dpt, Lb, Db, 0, q0, wk0, n, g, tq, c);

    // dSᵀ (bf16) into shared memory [key][query] for dQ; A fragments of Pᵀ and dSᵀ.
    uint32_t pa[4][4], sa[4][4];
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      a_fragment(st, ks, pa[ks]);
      a_fragment(dpt, ks, sa[ks]);
      // sa[ks][0]: row g, queries 16ks + 2tq..; [1]: row g + 8; [2], [3]: queries + 8.
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = warp * 16 + g + (e & 1) * 8;
        const int chunk = 2 * ks + (e >> 1);
        *reinterpret_cast<uint32_t*>(dSs + sw128(r, chunk) + 4 * tq) = sa[ks][e];
      }
    }
    // dV += Pᵀ·dO, dK += dSᵀ·Q (reduction over the tile's queries; B read transposed).
    {
      const uint64_t dQ_mn = desc_mn_major(q_addr), dO_mn = desc_mn_major(do_addr);
      fence_operand(dk);
      fence_operand(dv);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_rs<1>(dv, pa[ks], dO_mn + ks * kStepMN, 1);
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_rs<1>(dk, sa[ks], dQ_mn + ks * kStepMN, 1);
      wgmma_commit();
    }
    fence_async_smem();
    __syncthreads();  // dSᵀ complete

    // dQ_i = dS·K (queries × d; reduction over the tile's keys), added to the accumulators.
    float dq[8][4];
    fence_operand(dq);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
      wgmma_ss<1, 1>(dq, dS_mn + ks * kStepMN, dK_mn + ks * kStepMN, ks > 0);
    wgmma_commit();
    wgmma_wait<0>();
    fence_operand(dq);
    fence_operand(dk);
    fence_operand(dv);
    // Lanes tq, tq ^ 1 swap a pair so that each holds 4 adjacent columns of one row: even tq
    // row g, columns 8j + 2tq..+3; odd tq row g + 8, columns 8j + 2(tq − 1)..+3.
    {
      const bool odd = tq & 1;
      const int64_t row = q0 + warp * 16 + g + (odd ? 8 : 0);
      float* dst = dqacc + row * stride + 2 * (tq & 2);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float s0 = odd ? dq[j][0] : dq[j][2], s1 = odd ? dq[j][1] : dq[j][3];
        const float r0 = __shfl_xor_sync(0xffffffffu, s0, 1);
        const float r1 = __shfl_xor_sync(0xffffffffu, s1, 1);
        const float4 v =
            odd ? make_float4(r0, r1, dq[j][2], dq[j][3]) : make_float4(dq[j][0], dq[j][1], r0, r1);
        if (row < n) red_add4(dst + j * 8, v);
      }
    }
    __syncthreads();  // dSᵀ and this Q/dO buffer are rewritten next
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wk0 + g + hh * 8;
    if (row >= n) continue;
    bf16* kdst = p.dk + row * stride + hoff + 2 * tq;
    bf16* vdst = p.dv + row * stride + hoff + 2 * tq;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      *reinterpret_cast<__nv_bfloat162*>(kdst + j * 8) =
          __floats2bfloat162_rn(dk[j][2 * hh] * p.scale, dk[j][2 * hh + 1] * p.scale);
      *reinterpret_cast<__nv_bfloat162*>(vdst + j * 8) =
          __floats2bfloat162_rn(dv[j][2 * hh], dv[j][2 * hh + 1]);
    }
  }
#else
  __trap();  // never launched: sm90_available() is false without the sm_90a build
#endif
}

}  // namespace

void launch_grad_sm90(const BwdParams& p, const std::vector<AttnTile>& tiles, cudaStream_t stream) {
  RCC_CHECK(p.hd == kHd, "attention backward (sm_90): head_dim ", p.hd, " is not ", kHd);
  // 2 blocks per SM (≤ 255 registers; 212 used): measured against 3 (≤ 168 registers, no
  // spills) on the H100: 0.101 vs 0.112 ms for one 2048-row window × 12 heads, the same on the
  // batches, 1–3% more training tokens/s (bench/results/raw/h100_sm90_attn/attempt2).
  auto kernel = grad_sm90_kernel<2>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, kSmemBytes, configured);
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const dim3 grid(unsigned(p.heads), unsigned(count));  // block_tile's layout
    kernel<<<grid, kThreads, kSmemBytes, stream>>>(p, tile_chunk(tiles, first, count));
    RCC_CUDA_LAUNCH_CHECK();
  }
  launch_dq_convert(p, stream);
}

}  // namespace rcc::cuda::attn_bwd
