// Attention backward on Hopper's warpgroup tensor cores (wgmma, sm_90a; overview and path
// selection: backward.cu). The atomic scheme of backward_atomic.cu
// (5 tile products per (key tile, query tile) pair, dQ added to f32 accumulators) with every
// product issued as wgmma.mma_async by a warpgroup (4 warps, 128 threads) instead of mma.sync by
// single warps: the operands come straight from shared memory (descriptors), so there are no
// ldmatrix loads and the tensor cores see 64×64×16 products.
//
// One block per (128-key block, head), two warpgroups: warpgroup w owns keys k0 + 64w .. + 63.
// For every query tile (64 rows) from the block's diagonal on, each warpgroup computes (a tile
// wholly before its keys, warpgroup 1's first, comes out fully masked: no branch around wgmma)
//   Sᵀ  = K·Qᵀ            A = K [key][d] (smem),            B = Q [query][d] (smem)
//   dPᵀ = V·dOᵀ           A = V [key][d] (smem),            B = dO [query][d] (smem)
//   Pᵀ  = 2^(Sᵀ·c − LSE), dSᵀ = Pᵀ ⊙ (dPᵀ − D)   in registers (transposed_probabilities)
//   dV += Pᵀ·dO           A = Pᵀ (registers, bf16),        B = dO read transposed (MN-major)
//   dK += dSᵀ·Q           A = dSᵀ (registers, bf16),       B = Q read transposed
//   dQ_i share = dS·K     A = dSᵀ [key][query] (smem) read transposed, B = K read transposed
// Q, dO, LSE, D of each query tile are loaded once for both warpgroups; the two dQ shares meet
// in shared memory (row-major f32) and all 256 threads add their sum to the f32 accumulators with
// red.global.add.v4 (unscaled), a warp covering whole rows: one reduction per 128 keys. The loop
// is software-pipelined: tile i + 1's Sᵀ and dPᵀ run on the tensor cores while tile i's dQ is
// exchanged and added. (Measurements behind these choices: bench/results/training_gpu.md.)
// Then dk = scale·dK, dv = dV, and dq = bf16(scale · dQ) by dq_convert_kernel over the batch.
// Warp w of a warpgroup owns accumulator rows 16w..16w+15 (keys for Sᵀ, dPᵀ, dK, dV; queries
// for dQ) with the register layout of mma.sync's C fragments repeated over 8-column groups
// (cuda/mma.cuh), so the masking and probability code is the mma.sync kernels' own, and a
// C fragment pair converts to an A fragment in registers (as in FlashAttention-2).
//
// Shared memory: 64 × 64 bf16 tiles in wgmma's 128-byte swizzle (layout and descriptors:
// cuda/wgmma.cuh): K, V (two halves each), Q[2], dO[2] (cp.async double buffer), dSᵀ per
// warpgroup; then LSE, D [2][64] f32 and the dQ exchange ([2][64][72] f32).
// head_dim 64 only (a row of a tile is one 128-byte swizzle row); other head dims and other GPUs
// take the mma.sync kernels. Numerics as the atomic scheme: P, dS rounded to bf16 as operands,
// f32 accumulation, not bit-reproducible (order of the dQ additions).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cuda/attention/backward.cuh"
#include "cuda/wgmma.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

using namespace sm90;
constexpr int kHd = 64;                     // head_dim of this kernel
constexpr int kStatsBytes = 4 * kTile * 4;  // LSE, D [2][kTile] f32

// p[0..3] += v where `pred`: one fire-and-forget vector reduction (sm_90), p 16-byte aligned;
// the condition is a predicate in the instruction, not a branch.
__device__ __forceinline__ void red_add4_if(bool pred, float* p, float4 v) {
  asm volatile(
      "{\n.reg .pred q;\nsetp.ne.b32 q, %5, 0;\n"
      "@q red.global.add.v4.f32 [%0], {%1, %2, %3, %4};\n}\n" ::"l"(p),
      "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w), "r"(int(pred))
      : "memory");
}

constexpr int kBlockThreads = 2 * kThreads;     // two warpgroups
constexpr int kXRow = 64 + 8;                   // an exchange row: 64 f32 + padding
constexpr int kXBytes = 2 * kTile * kXRow * 4;  // exchange: [2 warpgroups][64 rows][kXRow]
constexpr size_t kSmemBytes =
    4 * kTileBytes /* K, V: 2 halves each */ + 4 * kTileBytes /* Q, dO: 2 buffers each */ +
    2 * kTileBytes /* dSᵀ per warpgroup */ + kStatsBytes + kXBytes + 1024 /* alignment slack */;

template <int NTHR>
__device__ __forceinline__ void wg_sync(int wg) {  // barrier of one warpgroup (ids 1, 2)
  asm volatile("bar.sync %0, %1;\n" ::"r"(1 + wg), "n"(NTHR) : "memory");
}

// HALF > 0: dk comes out inverse-rotated (rotary_qkv's backward folded in: pairs (i, i + HALF),
// i < HALF, by the angles of the key's position, rope = the (cos, sin) table [position][HALF]).
template <int HALF>
__global__ void __launch_bounds__(kBlockThreads, 1)
    grad_sm90_kernel(BwdParams p, const __grid_constant__ TileChunk tiles, const float* rope) {
#if RCC_SM90A_BODY
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* base = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
  unsigned char* Ks = base;                   // [2 halves] (rows 0..127 of the key block)
  unsigned char* Vs = Ks + 2 * kTileBytes;    // [2 halves]
  unsigned char* Qs = Vs + 2 * kTileBytes;    // [2 buffers]
  unsigned char* dOs = Qs + 2 * kTileBytes;   // [2 buffers]
  unsigned char* dSs = dOs + 2 * kTileBytes;  // [2 warpgroups]
  float* Ls = reinterpret_cast<float*>(dSs + 2 * kTileBytes);  // [2][kTile]
  float* Dsm = Ls + 2 * kTile;                                 // [2][kTile]
  float* X = Dsm + 2 * kTile;                                  // [2][kTile][kXRow]

  const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127;
  const int warp = wtid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const BlockTile bt = block_tile(tiles);
  const int kb = bt.tile, h = bt.h;  // 128-key block kb
  const int64_t n = bt.n, stride = p.stride, qs = p.qkv_stride;
  const int64_t k0 = int64_t(kb) * 2 * kTile;
  const int64_t kw0 = k0 + wg * kTile;  // this warpgroup's first key
  const int64_t wk0 = kw0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const int i0 = 2 * kb;  // the first query tile that sees a key of the block
  const HeadOffsets off = head_offsets(p, bt.begin, h);  // row 0 of the sequence, head h
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * p.ld + bt.begin;
  const float* dd_h = p.dd + int64_t(h) * p.ld + bt.begin;
  float* dqacc = p.dqacc + off.o;

  auto load_q = [&](int i, int buf) {
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_sw<kTile, kBlockThreads>(Qs + buf * kTileBytes, p.q + off.qkv, r0, n, qs, tid);
    load_tile_sw<kTile, kBlockThreads>(dOs + buf * kTileBytes, p.dout + off.o, r0, n, stride, tid);
    if (tid < 2 * kTile) {
      const int r = tid & (kTile - 1);
      const int64_t row = r0 + r;
      const bool valid = row < n;
      if (tid < kTile)
        cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
      else
        cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
    }
  };
  unsigned char* myK = Ks + wg * kTileBytes;
  unsigned char* myV = Vs + wg * kTileBytes;
  unsigned char* mydS = dSs + wg * kTileBytes;
  const uint64_t dK_k = desc_k_major(smem_addr(myK)), dV_k = desc_k_major(smem_addr(myV));
  const uint64_t dK_mn = desc_mn_major(smem_addr(myK));
  const uint64_t dS_mn = desc_mn_major(smem_addr(mydS));
  // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ of the tile in buffer `buf`, issued as one wgmma group.
  float st[8][4], dpt[8][4];
  auto issue_s_dp = [&](int buf) {
    const uint64_t dQ_k = desc_k_major(smem_addr(Qs + buf * kTileBytes));
    const uint64_t dO_k = desc_k_major(smem_addr(dOs + buf * kTileBytes));
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
  };

  // Prologue: K, V and the first query tile (one cp.async group), the second query tile (the
  // next group), then the first tile's Sᵀ and dPᵀ.
  load_tile_sw<2 * kTile, kBlockThreads>(Ks, p.k + off.qkv, k0, n, qs, tid);
  load_tile_sw<2 * kTile, kBlockThreads>(Vs, p.v + off.qkv, k0, n, qs, tid);
  load_q(i0, 0);
  cp_async_commit();
  cp_async_prefetch_or_drain(i0 + 1 < nqt, [&] { load_q(i0 + 1, 1); });
  fence_async_smem();
  __syncthreads();
  issue_s_dp(0);

  float dk[8][4], dv[8][4];
  zero(dk);
  zero(dv);

  // Software pipeline (per warpgroup, wgmma groups in issue order):
  //   wait Sᵀ, dPᵀ of tile i → probabilities → issue dV, dK (group a) → issue dQ_i (group b) →
  //   wait a → issue Sᵀ, dPᵀ of tile i + 1 (group c) → wait b → hand dQ_i over and add it.
  // The tensor cores compute tile i + 1's Sᵀ and dPᵀ while dQ_i is exchanged and added.
  // Query tiles rotate through two shared buffers: tile i + 2 is loaded into tile i's buffer
  // once both warpgroups are past all products that read tile i (the exchange barrier).
  for (int i = i0, step = 0; i < nqt; ++i, ++step) {
    const int buf = step & 1;
    const uint32_t q_addr = smem_addr(Qs + buf * kTileBytes);
    const uint32_t do_addr = smem_addr(dOs + buf * kTileBytes);
    const int64_t q0 = int64_t(i) * kTile;
    float dq[8][4];
    {  // (the scope of pa, sa)
      wgmma_wait<0>();
      fence_operand(st);
      fence_operand(dpt);
      transposed_probabilities(q0 < kw0 + kTile || q0 + kTile > n, st, dpt, Ls + buf * kTile,
                               Dsm + buf * kTile, 0, q0, wk0, n, g, tq, c);
      uint32_t pa[4][4], sa[4][4];
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        a_fragment(st, ks, pa[ks]);
        a_fragment(dpt, ks, sa[ks]);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = warp * 16 + g + (e & 1) * 8;
          const int chunk = 2 * ks + (e >> 1);
          *reinterpret_cast<uint32_t*>(mydS + sw128(r, chunk) + 4 * tq) = sa[ks][e];
        }
      }
      const uint64_t dQ_mn = desc_mn_major(q_addr), dO_mn = desc_mn_major(do_addr);
      fence_operand(dk);
      fence_operand(dv);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_rs<1>(dv, pa[ks], dO_mn + ks * kStepMN, 1);
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_rs<1>(dk, sa[ks], dQ_mn + ks * kStepMN, 1);
      wgmma_commit();
      fence_async_smem();
      wg_sync<kThreads>(wg);  // this warpgroup's dSᵀ complete
      fence_operand(dq);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
        wgmma_ss<1, 1>(dq, dS_mn + ks * kStepMN, dK_mn + ks * kStepMN, ks > 0);
      wgmma_commit();
      wgmma_wait<1>();  // dV, dK done: pa and sa are free for the next tile's products
      fence_operand(dk);
      fence_operand(dv);
    }
    // Tile i + 1 (loaded during tile i − 1's exchange) visible to both warpgroups.
    cp_async_wait<0>();
    fence_async_smem();
    __syncthreads();
    // After the last tile these products read a stale buffer and are never used: issuing them
    // unconditionally keeps the loop free of a branch around wgmma.
    issue_s_dp(buf ^ 1);
    wgmma_wait<1>();  // dQ_i done; the next tile's Sᵀ, dPᵀ still running
    fence_operand(dq);
    // Exchange: each warpgroup writes its dQ_i share row-major into its own f32 tile (rows
    // padded to kXRow floats: the float2 stores of a half-warp hit 32 distinct banks); after the
    // barrier all 256 threads add the two shares and reduce them into the accumulators, each
    // warp instruction covering two whole 256-byte rows, because line-sized reductions at L2
    // cost far less than adding the fragments' scattered 16-byte pieces directly
    // (bench/results/training_gpu.md). The row bound
    // is a predicate, not a branch: no divergent path while the next tile's products run
    // (ptxas would serialise every wgmma of the kernel).
    {
      float* mine = X + wg * kTile * kXRow;
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
          *reinterpret_cast<float2*>(mine + (warp * 16 + g + 8 * hh) * kXRow + 8 * j + 2 * tq) =
              make_float2(dq[j][2 * hh], dq[j][2 * hh + 1]);
    }
    // Both warpgroups past every product that reads tile i (and its LSE, D): its buffer takes
    // tile i + 2. The exchange tiles and dSᵀ are rewritten only after the next barrier above.
    __syncthreads();
    if (i + 2 < nqt) {
      load_q(i + 2, buf);
      cp_async_commit();
    }
#pragma unroll
    for (int it = 0; it < kTile * 16 / kBlockThreads; ++it) {
      const int idx = tid + it * kBlockThreads;
      const int r = idx >> 4, c4 = (idx & 15) * 4;  // row, first column of 4
      const float4 a = *reinterpret_cast<const float4*>(X + r * kXRow + c4);
      const float4 b = *reinterpret_cast<const float4*>(X + (kTile + r) * kXRow + c4);
      const int64_t row = q0 + r;
      red_add4_if(row < n, dqacc + row * stride + c4,
                  make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w));
    }
  }
  wgmma_wait<0>();  // the products issued for the tile after the last (never read)
  fence_operand(st);
  fence_operand(dpt);

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wk0 + g + hh * 8;
    if (row >= n) continue;
    bf16* kdst = p.dk + row * qs + off.qkv + 2 * tq;
    bf16* vdst = p.dv + row * qs + off.qkv + 2 * tq;
    float kv[8][2];  // dk of this row: columns 8j + 2tq + e
#pragma unroll
    for (int j = 0; j < 8; ++j)
      kv[j][0] = dk[j][2 * hh] * p.scale, kv[j][1] = dk[j][2 * hh + 1] * p.scale;
    if constexpr (HALF > 0) {
      // Column i < HALF pairs with i + HALF: group j with j + HALF/8, the same thread's values.
      // The inverse rotation: x1·c + x2·s, x2·c − x1·s (the row is the key's position).
      const float* cs = rope + row * HALF * 2;
#pragma unroll
      for (int j = 0; j < HALF / 8; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float2 r = *reinterpret_cast<const float2*>(cs + 2 * (8 * j + 2 * tq + e));
          const float x1 = kv[j][e], x2 = kv[j + HALF / 8][e];
          kv[j][e] = x1 * r.x + x2 * r.y;
          kv[j + HALF / 8][e] = x2 * r.x - x1 * r.y;
        }
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      *reinterpret_cast<__nv_bfloat162*>(kdst + j * 8) = __floats2bfloat162_rn(kv[j][0], kv[j][1]);
      *reinterpret_cast<__nv_bfloat162*>(vdst + j * 8) =
          __floats2bfloat162_rn(dv[j][2 * hh], dv[j][2 * hh + 1]);
    }
  }
#else
  __trap();  // never launched: sm90_available() is false without the sm_90a build
#endif
}

template <int HALF>
void launch_tiles(const BwdParams& p, const std::vector<AttnTile>& tiles, const float* rope,
                  cudaStream_t stream) {
  // One block of 8 warps per SM (229 registers a thread).
  auto kernel = grad_sm90_kernel<HALF>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, kSmemBytes, configured);
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const dim3 grid(unsigned(p.heads), unsigned(count));  // block_tile's layout
    kernel<<<grid, kBlockThreads, kSmemBytes, stream>>>(p, tile_chunk(tiles, first, count), rope);
    RCC_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

void launch_grad_sm90(const BwdParams& p, const SeqRows* seqs, int64_t n_seqs,
                      const RotaryGrad* fold, cudaStream_t stream) {
  RCC_CHECK(p.hd == kHd, "attention backward (sm_90): head_dim ", p.hd, " is not ", kHd);
  // Sequence by sequence (each longest-first), not longest-first over the batch: the blocks in
  // flight then add into the dQ accumulators of one or two sequences, which stay in L2 (6 MB
  // for a 2048-row window of 768 columns, against 100 MB for the 16 windows of a 2×160m step;
  // bench/experiments/attention-bwd-batch-wide-tile-order.md).
  std::vector<AttnTile> tiles;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const std::vector<AttnTile> t = causal_tiles(seqs + s, 1, 2 * kTile, false, true);
    tiles.insert(tiles.end(), t.begin(), t.end());
  }
  const int half = fold ? fold->half : 0;
  const float* rope = fold ? fold->rope : nullptr;
  RCC_CHECK(half == 0 || rotary_foldable(half, kHd),
            "attention backward (sm_90): cannot fold a rotary half of ", half);
  if (half == 8)
    launch_tiles<8>(p, tiles, rope, stream);
  else if (half == 16)
    launch_tiles<16>(p, tiles, rope, stream);
  else if (half == 32)
    launch_tiles<32>(p, tiles, rope, stream);
  else
    launch_tiles<0>(p, tiles, rope, stream);
  launch_dq_convert(p, stream, fold);
}

}  // namespace rcc::cuda::attn_bwd
