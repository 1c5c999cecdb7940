// Batched causal self-attention (the training forward, launch_flash_attention_tiles) on Hopper's
// warpgroup tensor cores (wgmma, sm_90a; building blocks: cuda/wgmma.cuh). Same contract
// and tiles as the mma.sync flash kernel (flash.cu): a block per (128-query tile
// of one sequence, head), the tiles of every sequence in one launch, longest first; out and the
// rows' log2-sum-exps written for rows < n.
//
// Block: 2 warpgroups (256 threads); warpgroup w owns query rows 64w..64w+63 of the tile (its Q
// sub-tile stays in shared memory for the whole loop). Per 64-key tile (K, V double-buffered by
// cp.async, shared by both warpgroups; tile kt + 1 is loaded right after the one barrier per
// tile, which both publishes tile kt and frees the buffer tile kt − 1 used):
//   S = Q·Kᵀ              A = Q [query][d] (smem, K-major), B = K [key][d] (smem, K-major)
//   causal mask (only on tiles that reach past the warpgroup's first row; a warpgroup skips tiles
//   wholly after its last row), online softmax in the log2 domain (running max and sum per row,
//   the scale folded into exp2's FMA, subnormal results flushed: one SFU instruction each), O
//   rescaled by 2^(m_old − m_new)
//   O += P·V              A = P (registers, bf16), B = V [key][d] read transposed (MN-major)
// then out = O / l (bf16) and lse = m + log2 l. Numerics as the mma.sync kernel: P rounded to
// bf16 as the operand, f32 accumulation and softmax state.
// head_dim 64, bf16 k/v from position 0, 16-byte aligned rows (launch_flash_attention_tiles
// checks; other cases take the mma.sync kernel).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "cuda/kernels.h"
#include "cuda/wgmma.cuh"

namespace rcc::cuda {
namespace {

using namespace sm90;
constexpr int kHd = 64;
constexpr int kRows = kFlashTileRows;  // 128 query rows per block: 2 warpgroups × 64
constexpr int kKeys = kFlashBlockN;    // 64 keys per tile
constexpr int kThreadsFwd = 2 * 128;
static_assert(kRows == 128 && kKeys == 64, "the sm_90 forward assumes 128-row, 64-key tiles");
constexpr int kStages = 2;  // K/V buffers
constexpr size_t kSmemBytes =
    (2 + 2 * kStages) * kTileBytes + 1024;  // Q[2], K[2], V[2] + alignment slack

template <int MINB>
__global__ void __launch_bounds__(kThreadsFwd, MINB)
    flash_sm90_kernel(AttentionArgs args, const __grid_constant__ TileChunk tiles) {
#if RCC_SM90A_BODY
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* base = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
  unsigned char* Qs = base;                       // [2] sub-tiles of 64 rows (warpgroup w: Qs[w])
  unsigned char* Ks = Qs + 2 * kTileBytes;        // [kStages] buffers
  unsigned char* Vs = Ks + kStages * kTileBytes;  // [kStages] buffers

  const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127;
  const int warp = wtid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const AttnTile& t = tiles.t[blockIdx.y];
  const int h = int(blockIdx.x);
  const int64_t n = t.n, b = t.begin;
  const int64_t q0 = int64_t(t.tile) * kRows;
  const bf16* qh = args.q + b * args.q_stride + int64_t(h) * args.q_head;
  const bf16* kh = static_cast<const bf16*>(args.k) + b * args.kv_stride +
                   int64_t(h / args.group) * args.kv_head;
  const bf16* vh = static_cast<const bf16*>(args.v) + b * args.kv_stride +
                   int64_t(h / args.group) * args.kv_head;
  const float c = args.scale_log2;
  // Key tiles 0..last: the tile's last row (or the sequence's) sees keys up to itself.
  const int nkt = int(((q0 + kRows < n ? q0 + kRows : n) - 1) / kKeys) + 1;
  const int64_t r0 = q0 + 64 * wg;     // this warpgroup's first query row
  const int64_t wr0 = r0 + warp * 16;  // this warp's first row

  // One cp.async group per key tile (the first with Q), tile kt in buffer kt % kStages.
  auto load_kv = [&](int kt) {
    const int buf = kt % kStages;
    load_tile_sw<kKeys, kThreadsFwd>(Ks + buf * kTileBytes, kh, int64_t(kt) * kKeys, n,
                                     args.kv_stride, tid);
    load_tile_sw<kKeys, kThreadsFwd>(Vs + buf * kTileBytes, vh, int64_t(kt) * kKeys, n,
                                     args.kv_stride, tid);
    cp_async_commit();
  };
  load_tile_sw<kRows, kThreadsFwd>(Qs, qh, q0, n, args.q_stride, tid);
  load_kv(0);

  const uint64_t dq_k = desc_k_major(smem_addr(Qs + wg * kTileBytes));
  float o[8][4];
  zero(o);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g, g + 8 (this thread's part)

  for (int kt = 0; kt < nkt; ++kt) {
    const int buf = kt % kStages;
    // Tile kt landed, visible to the async proxy and to both warpgroups; past this barrier every
    // thread is done with tile kt − 1, so its buffer takes tile kt + 1 (loaded during this
    // tile's products). Two buffers, not three: loading two tiles ahead does not pay
    // (bench/experiments/attention-fwd-three-kv-buffers.md).
    cp_async_wait<0>();
    fence_async_smem();
    __syncthreads();
    if (kt + 1 < nkt) load_kv(kt + 1);
    const int64_t k0 = int64_t(kt) * kKeys;
    if (k0 <= r0 + 63) {  // warpgroup-uniform: some row of this warpgroup sees a key of the tile
      float s[8][4];
      const uint64_t dk_k = desc_k_major(smem_addr(Ks + buf * kTileBytes));
      fence_operand(s);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kHd / 16; ++kk)
        wgmma_ss<0, 0>(s, dq_k + kk * kStepK, dk_k + kk * kStepK, kk > 0);
      wgmma_commit();
      wgmma_wait<0>();
      fence_operand(s);
      // Causal mask: key > query (keys ≥ n are > every row < n; rows ≥ n are never stored).
      if (k0 + kKeys - 1 > wr0) {
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t key = k0 + 8 * j + 2 * tq + (e & 1);
            const int64_t qry = wr0 + g + (e >> 1) * 8;
            if (key > qry) s[j][e] = -INFINITY;
          }
      }
      // Online softmax per row (g: e 0,1; g + 8: e 2,3), over the 4 lanes tq of the row.
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * hh], s[j][2 * hh + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // Every row saw key 0 in tile 0, so m is finite from then on; a row that sees no key of
        // this tile keeps its m (mx = −inf).
        const float m_new = fmaxf(m[hh], mx * c);
        const float corr = exp2_ftz(m[hh] - m_new);  // 0 on the first tile (m = −inf)
        m[hh] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float p0 = exp2_ftz(fmaf(s[j][2 * hh], c, -m_new));  // masked: 2^−inf = 0
          const float p1 = exp2_ftz(fmaf(s[j][2 * hh + 1], c, -m_new));
          s[j][2 * hh] = p0, s[j][2 * hh + 1] = p1;
          sum += p0 + p1;
          o[j][2 * hh] *= corr, o[j][2 * hh + 1] *= corr;
        }
        l[hh] = l[hh] * corr + sum;
      }
      uint32_t pa[4][4];
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) a_fragment(s, ks, pa[ks]);
      const uint64_t dv_mn = desc_mn_major(smem_addr(Vs + buf * kTileBytes));
      fence_operand(o);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_rs<1>(o, pa[ks], dv_mn + ks * kStepMN, 1);
      wgmma_commit();
      wgmma_wait<0>();
      fence_operand(o);
    }
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    float lt = l[hh];
    lt += __shfl_xor_sync(0xffffffffu, lt, 1);
    lt += __shfl_xor_sync(0xffffffffu, lt, 2);
    const int64_t row = wr0 + g + hh * 8;
    if (row >= n) continue;
    const float inv = 1.0f / lt;  // lt ≥ 1: the row's max contributes 2^0
    bf16* dst = args.out + (b + row) * args.out_stride + int64_t(h) * kHd + 2 * tq;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) =
          __floats2bfloat162_rn(o[j][2 * hh] * inv, o[j][2 * hh + 1] * inv);
    if (args.lse && tq == 0) args.lse[(b + row) * args.heads + h] = m[hh] + log2f(lt);
  }
#else
  __trap();  // never launched: sm90_available() is false without the sm_90a build
#endif
}

}  // namespace

void launch_flash_attention_tiles_sm90(const AttentionArgs& a, const std::vector<AttnTile>& tiles,
                                       cudaStream_t stream) {
  RCC_CHECK(a.hd == kHd && !a.int8 && a.past == 0,
            "CUDA batched attention (sm_90): head_dim 64, bf16 k/v from position 0 required");
  auto kernel = flash_sm90_kernel<2>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, kSmemBytes, configured);
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const dim3 grid(unsigned(a.heads), unsigned(count));
    kernel<<<grid, kThreadsFwd, kSmemBytes, stream>>>(a, tile_chunk(tiles, first, count));
    RCC_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace rcc::cuda
