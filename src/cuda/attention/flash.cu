// Fused causal attention for prefill (FlashAttention-2 style) on bf16 tensor cores.
//
// Grid (heads, query tiles, key splits), the longest query tiles dispatched first; block 256
// threads = 2 key groups of 4 warps. A block owns BM = 128 query rows of one head (warp w of each
// group: rows 32w..32w+31, two 16-row m-tiles, so each K/V fragment read from shared memory feeds
// two MMAs) and walks key tiles of BN = 64 keys; group 0 takes the even tiles of its range, group 1
// the odd ones, each with its own cp.async double buffer and named barrier, and group 1's running
// state is merged into group 0's at the end (halves the longest block's sequential work, one
// 8-warp block per SM: 255 registers, 170 KB shared memory for head_dim 128):
//   S = Q·Kᵀ (mma.sync m16n8k16, bf16 in, f32 accumulate) → causal mask by absolute position,
//   only on sub-blocks that cross the warp's diagonal (warps whose rows all precede a sub-block
//   skip it) → online softmax (running max and sum per row, f32, log2 domain, the scale folded
//   into exp2's FMA; O rescaled only when some row's max moved) → O += P·V with P rounded to
//   bf16 straight from the S accumulators (their layout is the A-operand layout).
// Q and K/V tiles live in shared memory with rows padded to HD + 8 bf16, so that the 8 rows an
// ldmatrix reads fall into distinct banks. The int8 cache is dequantised (value · per-row scale →
// bf16) on the way into shared memory (synchronous loads). The score matrix never leaves registers.
// (plan_attention sizes key splits with kFlashBlockM = 64, i.e. counts half-blocks against 2 per
// SM, which matches one 128-row block per SM.)
//
// Batched self-attention (training, launch_flash_attention_tiles): the grid's rows are the
// query tiles of every sequence of a batch (causal_tiles, longest first, passed as kernel
// parameters), each block working on its tile's sequence; one launch instead of one per sequence
// fills the tail of each sequence's launch with the others' tiles.
// With key splits (few query tiles against a long cache), block z handles key tiles
// [z·tps, (z+1)·tps) and writes an f32 partial (normalised output + log2-sum-exp) that
// launch_attention_combine merges. With AttentionArgs::lse set (training), each row's
// log2-sum-exp (max + log2 sum, the softmax's own running state) is written as well: here when
// splits == 1, by the combine kernel otherwise.
// (Register fragment layouts: cuda/mma.cuh.)
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "core/settings.h"
#include "cuda/kernels.h"
#include "cuda/mma.cuh"

namespace rcc::cuda {
namespace {

constexpr int BN = kFlashBlockN;
constexpr int kThreads = 128;            // threads per key group
constexpr int64_t kIntMax = 2147483647;  // key tiles per split when nothing is split

// 16 int8 · scale → 16 bf16 at dst (two 16-byte stores).
__device__ __forceinline__ void store_dequant16(bf16* dst, uint4 raw, float scale) {
  const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
  uint4 lo, hi;
  uint32_t* l = reinterpret_cast<uint32_t*>(&lo);
  uint32_t* h = reinterpret_cast<uint32_t*>(&hi);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    l[i] = pack_bf16(float(b[2 * i]) * scale, float(b[2 * i + 1]) * scale);
    h[i] = pack_bf16(float(b[8 + 2 * i]) * scale, float(b[8 + 2 * i + 1]) * scale);
  }
  reinterpret_cast<uint4*>(dst)[0] = lo;
  reinterpret_cast<uint4*>(dst)[1] = hi;
}

// 4 warps × (16·WM) query rows each (BM2 = 64·WM rows per block). Each K/V fragment read from
// shared memory feeds WM m-tiles. Keys of a 64-key tile are processed in sub-blocks of KSUB
// (scores of KSUB keys live in registers). QREG: Q fragments stay in registers for the whole
// key loop, otherwise they are re-read from shared memory per tile. Warps whose rows all precede
// a key sub-block skip it; the mask is applied only where a sub-block reaches past the warp's
// first query position. Scores are kept raw and the scale is folded into exp2 (one FMA).
// Tiles: NoTiles (one sequence, the grid's tiles in longest-first order) or TileChunk (batched
// self-attention: the block row's tile and sequence from the chunk; uniform for the compiler).
struct NoTiles {};
__device__ __forceinline__ const AttentionArgs& tile_args(const AttentionArgs& args, const NoTiles&,
                                                          int) {
  return args;
}
// The arguments of tile ty's sequence: rows [begin, begin + n) of bf16 q, k, v, out, lse.
__device__ __forceinline__ AttentionArgs tile_args(const AttentionArgs& args,
                                                   const TileChunk& tiles, int ty) {
  AttentionArgs a = args;
  const AttnTile& t = tiles.t[ty];
  const int64_t b = t.begin;
  a.q += b * a.q_stride;
  a.k = static_cast<const bf16*>(a.k) + b * a.kv_stride;
  a.v = static_cast<const bf16*>(a.v) + b * a.kv_stride;
  a.out += b * a.out_stride;
  if (a.lse) a.lse += b * a.heads;
  a.rows = t.n;
  a.past = 0;
  return a;
}
template <int HD, bool kInt8, int WM, int KSUB, bool QREG, int KG, class Tiles>
__global__ void __launch_bounds__(kThreads* KG)
    flash_attention_kernel(AttentionArgs args, int splits, int tiles_per_split, Partials part,
                           int head_major, const __grid_constant__ Tiles tiles) {
  constexpr int BM2 = 64 * WM;
  constexpr int WR = 16 * WM;  // rows per warp
  constexpr int LD = HD + 8;
  constexpr int KSTEPS = HD / 16;
  constexpr int NT = HD / 8;
  constexpr int CHUNKS = HD / 8;
  constexpr int SN = KSUB / 8;  // 8-key score tiles per sub-block
  static_assert(BN % KSUB == 0 && KSUB % 16 == 0, "key sub-blocks");
  static_assert(
      HD % 64 == 0 && (BN * HD / 16) % kThreads == 0 && (BM2 * CHUNKS) % (kThreads * KG) == 0,
      "tile loads must divide evenly over the block");
  static_assert(KG == 1 || (WM * NT * 4 + 4 * WM) * kThreads * 4 <= 4 * BN * KG * LD * 2,
                "merge area");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  // KG key groups of 4 warps: group kgrp walks key tiles t_begin + kgrp, + KG, ... with its own
  // double buffer and named barrier; the groups' states are merged at the end.
  const int kgrp = KG == 1 ? 0 : int(threadIdx.x) / kThreads;
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);   // [BM2][LD]
  bf16* Ks = Qs + BM2 * LD + kgrp * 4 * BN * LD;  // [2][BN][LD] per group
  bf16* Vs = Ks + 2 * BN * LD;                    // [2][BN][LD] per group
  auto group_sync = [&] {
    if constexpr (KG == 1)
      __syncthreads();
    else
      asm volatile("bar.sync %0, %1;\n" ::"r"(1 + kgrp), "n"(kThreads) : "memory");
  };

  // The longest (last) query tiles first: blocks are dispatched in x-fastest order, so with
  // head_major the heads run along x and each query tile's blocks of every head go out together.
  // Batched (TileChunk): the tile table is in that order already; the block works on its
  // tile's sequence as on a batch of its own (a copy of the arguments moved to its rows).
  constexpr bool kBatched = std::is_same_v<Tiles, TileChunk>;
  const int ty = head_major ? int(blockIdx.y) : int(blockIdx.x);
  std::conditional_t<kBatched, AttentionArgs, const AttentionArgs&> a = tile_args(args, tiles, ty);
  int qt;
  if constexpr (kBatched)
    qt = tiles.t[ty].tile;
  else
    qt = head_major ? int(gridDim.y) - 1 - int(blockIdx.y) : int(gridDim.x) - 1 - int(blockIdx.x);
  const int h = head_major ? blockIdx.x : blockIdx.y, z = blockIdx.z;
  const int btid = threadIdx.x;
  const int tid = btid & (kThreads - 1), warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t rows = a.rows, past = a.past;
  const int64_t m0 = int64_t(qt) * BM2;
  const int64_t n_keys = past + min(m0 + BM2, rows);
  const int n_tiles = int((n_keys + BN - 1) / BN);
  const int t_begin = z * tiles_per_split;
  const int t_end = min(n_tiles, t_begin + tiles_per_split);
  const int64_t wrow0 = m0 + warp * WR;  // this warp's first row
  const int64_t wq0 = past + wrow0;      // its query position
  const float scale = a.scale_log2;

  float o[WM][NT][4];
#pragma unroll
  for (int i = 0; i < WM; ++i)
#pragma unroll
    for (int d = 0; d < NT; ++d) o[i][d][0] = o[i][d][1] = o[i][d][2] = o[i][d][3] = 0.0f;
  float mrow[WM][2], lrow[WM][2];
#pragma unroll
  for (int i = 0; i < WM; ++i) mrow[i][0] = mrow[i][1] = -INFINITY, lrow[i][0] = lrow[i][1] = 0.0f;

  auto load_kv = [&](int t, int buf) {
    const int64_t key0 = int64_t(t) * BN;
    bf16* kd = Ks + buf * BN * LD;
    bf16* vd = Vs + buf * BN * LD;
    if constexpr (!kInt8) {
      const bf16* kg = static_cast<const bf16*>(a.k) + int64_t(h / a.group) * a.kv_head;
      const bf16* vg = static_cast<const bf16*>(a.v) + int64_t(h / a.group) * a.kv_head;
#pragma unroll 2
      for (int it = 0; it < BN * CHUNKS / kThreads; ++it) {
        const int i = tid + it * kThreads;
        const int r = i / CHUNKS, c = i % CHUNKS;
        const int64_t key = key0 + r;
        const bool valid = key < n_keys;
        const int64_t off = (valid ? key : 0) * a.kv_stride + c * 8;
        cp_async16(kd + r * LD + c * 8, kg + off, valid);
        cp_async16(vd + r * LD + c * 8, vg + off, valid);
      }
    } else {
      constexpr int C16 = HD / 16;
      const int8_t* kg = static_cast<const int8_t*>(a.k) + int64_t(h / a.group) * a.kv_head;
      const int8_t* vg = static_cast<const int8_t*>(a.v) + int64_t(h / a.group) * a.kv_head;
#pragma unroll 2
      for (int it = 0; it < BN * C16 / kThreads; ++it) {
        const int i = tid + it * kThreads;
        const int r = i / C16, c = i % C16;
        const int64_t key = key0 + r;
        uint4 kr = make_uint4(0, 0, 0, 0), vr = make_uint4(0, 0, 0, 0);
        float ks = 0.0f, vs = 0.0f;
        if (key < n_keys) {
          const int64_t off = key * a.kv_stride + c * 16;
          kr = *reinterpret_cast<const uint4*>(kg + off);
          vr = *reinterpret_cast<const uint4*>(vg + off);
          ks = a.k_scale[key * (a.heads / a.group) + h / a.group];
          vs = a.v_scale[key * (a.heads / a.group) + h / a.group];
        }
        store_dequant16(kd + r * LD + c * 16, kr, ks);
        store_dequant16(vd + r * LD + c * 16, vr, vs);
      }
    }
  };

  if (t_begin < t_end) {  // block-uniform
#pragma unroll
    for (int it = 0; it < BM2 * CHUNKS / (kThreads * KG); ++it) {
      const int i = btid + it * kThreads * KG;
      const int r = i / CHUNKS, c = i % CHUNKS;
      const int64_t qr = m0 + r;
      const bool valid = qr < rows;
      cp_async16(Qs + r * LD + c * 8,
                 a.q + (valid ? qr : 0) * a.q_stride + int64_t(h) * a.q_head + c * 8, valid);
    }
    cp_async_commit();
    if (t_begin + kgrp < t_end) load_kv(t_begin + kgrp, 0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    uint32_t qf[QREG ? WM : 1][QREG ? KSTEPS : 1][4];
    if constexpr (QREG) {
#pragma unroll
      for (int i = 0; i < WM; ++i)
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk)
          ldmatrix_x4(qf[i][kk],
                      Qs + (warp * WR + i * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);
    }

    for (int t = t_begin + kgrp, step = 0; t < t_end; t += KG, ++step) {
      const int buf = step & 1;
      cp_async_prefetch_or_drain(t + KG < t_end, [&] { load_kv(t + KG, buf ^ 1); });
      group_sync();
      const bf16* Kb = Ks + buf * BN * LD;
      const bf16* Vb = Vs + buf * BN * LD;

#pragma unroll
      for (int kh = 0; kh < BN / KSUB; ++kh) {
        const int64_t kbase = int64_t(t) * BN + kh * KSUB;
        if (kbase > wq0 + WR - 1)
          continue;  // warp-uniform: every row of the warp precedes these keys

        float s[WM][SN][4];
#pragma unroll
        for (int i = 0; i < WM; ++i)
#pragma unroll
          for (int n = 0; n < SN; ++n) s[i][n][0] = s[i][n][1] = s[i][n][2] = s[i][n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk) {
          uint32_t qa[WM][4];
#pragma unroll
          for (int i = 0; i < WM; ++i) {
            if constexpr (QREG) {
#pragma unroll
              for (int j = 0; j < 4; ++j) qa[i][j] = qf[i][kk][j];
            } else {
              ldmatrix_x4(qa[i],
                          Qs + (warp * WR + i * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);
            }
          }
#pragma unroll
          for (int np = 0; np < KSUB / 16; ++np) {
            uint32_t b[4];
            ldmatrix_x4(b, Kb + (kh * KSUB + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD +
                               kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
            for (int i = 0; i < WM; ++i) {
              mma_bf16(s[i][2 * np], qa[i], b[0], b[1]);
              mma_bf16(s[i][2 * np + 1], qa[i], b[2], b[3]);
            }
          }
        }

        if (kbase + KSUB - 1 > wq0) {  // warp-uniform: some key follows some row's position
          // key - query position, small here: kbase - wq0 lies in (-KSUB, WR).
#pragma unroll
          for (int i = 0; i < WM; ++i)
#pragma unroll
            for (int n = 0; n < SN; ++n)
#pragma unroll
              for (int e = 0; e < 4; ++e) {
                const int64_t kpos = kbase + n * 8 + 2 * tq + (e & 1);
                const int64_t qpos = wq0 + i * 16 + g + (e >> 1) * 8;
                if (kpos > qpos) s[i][n][e] = -INFINITY;
              }
        }

        bool rescale = false;
        float corr[WM][2];
#pragma unroll
        for (int i = 0; i < WM; ++i) {
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            float mx = -INFINITY;
#pragma unroll
            for (int n = 0; n < SN; ++n)
              mx = fmaxf(mx, fmaxf(s[i][n][2 * hh], s[i][n][2 * hh + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(mrow[i][hh], mx * scale);
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            corr[i][hh] = exp2f(mrow[i][hh] - m_use);
            rescale |= corr[i][hh] != 1.0f;
            mrow[i][hh] = m_new;
            float sum = 0.0f;
#pragma unroll
            for (int n = 0; n < SN; ++n) {
              const float p0 = exp2f(fmaf(s[i][n][2 * hh], scale, -m_use));
              const float p1 = exp2f(fmaf(s[i][n][2 * hh + 1], scale, -m_use));
              s[i][n][2 * hh] = p0;
              s[i][n][2 * hh + 1] = p1;
              sum += p0 + p1;
            }
            lrow[i][hh] = lrow[i][hh] * corr[i][hh] + sum;
          }
        }
        if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
          for (int i = 0; i < WM; ++i)
#pragma unroll
            for (int d = 0; d < NT; ++d) {
              o[i][d][0] *= corr[i][0];
              o[i][d][1] *= corr[i][0];
              o[i][d][2] *= corr[i][1];
              o[i][d][3] *= corr[i][1];
            }
        }

#pragma unroll
        for (int ks = 0; ks < KSUB / 16; ++ks) {
          uint32_t pa[WM][4];
#pragma unroll
          for (int i = 0; i < WM; ++i) {
            pa[i][0] = pack_bf16(s[i][2 * ks][0], s[i][2 * ks][1]);
            pa[i][1] = pack_bf16(s[i][2 * ks][2], s[i][2 * ks][3]);
            pa[i][2] = pack_bf16(s[i][2 * ks + 1][0], s[i][2 * ks + 1][1]);
            pa[i][3] = pack_bf16(s[i][2 * ks + 1][2], s[i][2 * ks + 1][3]);
          }
#pragma unroll
          for (int dp = 0; dp < HD / 16; ++dp) {
            uint32_t b[4];
            ldmatrix_x4_trans(
                b, Vb + (kh * KSUB + ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                       (lane >> 4) * 8);
#pragma unroll
            for (int i = 0; i < WM; ++i) {
              mma_bf16(o[i][2 * dp], pa[i], b[0], b[1]);
              mma_bf16(o[i][2 * dp + 1], pa[i], b[2], b[3]);
            }
          }
        }
      }
      group_sync();  // this buffer is refilled two iterations later
    }
  }

  if constexpr (KG == 2) {
    // Group 1 hands its state (o, max, sum) to group 0 through shared memory ([value][thread],
    // conflict-free); warp w of group 0 and warp w of group 1 own the same rows and fragments.
    float* st = reinterpret_cast<float*>(smem_raw + size_t(BM2) * LD * sizeof(bf16));
    constexpr int NO = WM * NT * 4;
    __syncthreads();  // both groups are done with their K/V buffers
    if (kgrp == 1) {
#pragma unroll
      for (int i = 0; i < WM; ++i) {
#pragma unroll
        for (int d = 0; d < NT; ++d)
#pragma unroll
          for (int e = 0; e < 4; ++e) st[((i * NT + d) * 4 + e) * kThreads + tid] = o[i][d][e];
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          st[(NO + i * 2 + hh) * kThreads + tid] = mrow[i][hh];
          st[(NO + 2 * WM + i * 2 + hh) * kThreads + tid] = lrow[i][hh];
        }
      }
    }
    __syncthreads();
    if (kgrp == 1) return;
#pragma unroll
    for (int i = 0; i < WM; ++i) {
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const float m2 = st[(NO + i * 2 + hh) * kThreads + tid];
        const float l2 = st[(NO + 2 * WM + i * 2 + hh) * kThreads + tid];
        const float m = fmaxf(mrow[i][hh], m2);
        const float m_use = m == -INFINITY ? 0.0f : m;
        const float c1 = exp2f(mrow[i][hh] - m_use), c2 = exp2f(m2 - m_use);
        mrow[i][hh] = m;
        lrow[i][hh] = lrow[i][hh] * c1 + l2 * c2;
#pragma unroll
        for (int d = 0; d < NT; ++d)
#pragma unroll
          for (int e = 0; e < 2; ++e)
            o[i][d][2 * hh + e] = o[i][d][2 * hh + e] * c1 +
                                  st[((i * NT + d) * 4 + 2 * hh + e) * kThreads + tid] * c2;
      }
    }
  }

#pragma unroll
  for (int i = 0; i < WM; ++i) {
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float l = lrow[i][hh];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const int64_t row = wrow0 + i * 16 + g + hh * 8;
      if (row >= rows) continue;
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      if (splits == 1) {
        bf16* dst = a.out + row * a.out_stride + int64_t(h) * HD + 2 * tq;
#pragma unroll
        for (int d = 0; d < NT; ++d)
          *reinterpret_cast<__nv_bfloat162*>(dst + d * 8) =
              __floats2bfloat162_rn(o[i][d][2 * hh] * inv, o[i][d][2 * hh + 1] * inv);
        if (a.lse && tq == 0)  // training: the row's log2-sum-exp for the backward
          a.lse[row * a.heads + h] = l > 0.0f ? mrow[i][hh] + log2f(l) : -INFINITY;
      } else {
        const int64_t pi = (row * a.heads + h) * splits + z;
        float* dst = part.o + pi * HD + 2 * tq;
#pragma unroll
        for (int d = 0; d < NT; ++d)
          *reinterpret_cast<float2*>(dst + d * 8) =
              make_float2(o[i][d][2 * hh] * inv, o[i][d][2 * hh + 1] * inv);
        if (tq == 0) part.lse[pi] = l > 0.0f ? mrow[i][hh] + log2f(l) : -INFINITY;
      }
    }
  }
}

// One launch: with NoTiles a block row per query tile of a.rows, with a TileChunk `count` block
// rows (the chunk's tiles).
template <int HD, bool kInt8, int WM, int KSUB, bool QREG, int KG, class Tiles>
void launch_flash(const AttentionArgs& a, int splits, int tiles_per_split, Partials part,
                  const Tiles& tiles, int64_t count, cudaStream_t stream) {
  constexpr int LD = HD + 8;
  constexpr int BM2 = 64 * WM;
  static_assert(BM2 == kFlashTileRows, "the batched tile tables count kFlashTileRows per block");
  const size_t smem = size_t(BM2 + 4 * BN * KG) * LD * sizeof(bf16);
  auto kernel = flash_attention_kernel<HD, kInt8, WM, KSUB, QREG, KG, Tiles>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  const int64_t qtiles = std::is_same_v<Tiles, TileChunk> ? count : (a.rows + BM2 - 1) / BM2;
  const int head_major = qtiles <= 65535;
  const dim3 grid = head_major ? dim3(unsigned(a.heads), unsigned(qtiles), unsigned(splits))
                               : dim3(unsigned(qtiles), unsigned(a.heads), unsigned(splits));
  kernel<<<grid, kThreads * KG, smem, stream>>>(a, splits, tiles_per_split, part, head_major,
                                                tiles);
  RCC_CUDA_LAUNCH_CHECK();
}

// 128 query rows per block (4 warps × 32 rows), 2 key groups (8 warps), 64-key softmax steps;
// Q fragments stay in registers for head_dim 64 and are re-read from shared memory for 128.
template <int HD, bool kInt8, class Tiles = NoTiles>
void launch_flash_any(const AttentionArgs& a, int splits, int tps, Partials part,
                      cudaStream_t stream, const Tiles& tiles = {}, int64_t count = 0) {
  launch_flash<HD, kInt8, 2, 64, HD == 64, 2, Tiles>(a, splits, tps, part, tiles, count, stream);
}

}  // namespace

bool flash_supported(const AttentionArgs& a) {
  if (a.hd != 64 && a.hd != 128) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0 || a.q_head % 8 != 0) return false;
  if (!aligned(a.out, 4) || a.out_stride % 2 != 0) return false;
  const int kv_align = a.int8 ? 16 : 8;  // elements per 16-byte load
  if (!aligned(a.k, 16) || !aligned(a.v, 16) || a.kv_stride % kv_align != 0 ||
      a.kv_head % kv_align != 0)
    return false;
  return a.rows < (int64_t(1) << 30) && a.heads < 65536;
}

namespace {

// Whether the batched forward takes the wgmma kernel (flash_sm90.cu): head_dim 64,
// 16-byte aligned q/k/v rows, an H100-class GPU, and RCC_CUDA_ATTN_FWD not "mma" (which keeps
// the mma.sync kernel below; core/settings.h, read on every launch so that checks can compare the
// two).
bool use_sm90_tiles(const AttentionArgs& a) {
  if (a.hd != 64 || !aligned(a.q, 16) || !aligned(a.k, 16) || !aligned(a.v, 16) || a.q_stride % 8 ||
      a.q_head % 8 || a.kv_stride % 8 || a.kv_head % 8 || !aligned(a.out, 4) || a.out_stride % 2)
    return false;
  if (runtime_settings().cuda_attn_fwd == AttnForwardPath::Mma) return false;
  return sm90_available();
}

}  // namespace

void launch_flash_attention_tiles(const AttentionArgs& a, const std::vector<AttnTile>& tiles,
                                  cudaStream_t stream) {
  RCC_CHECK(!a.int8 && a.past == 0 && (a.hd == 64 || a.hd == 128),
            "CUDA batched attention: bf16 k, v from position 0 and head_dim 64 or 128 required");
  check_head_layout(a);
  if (use_sm90_tiles(a)) {
    launch_flash_attention_tiles_sm90(a, tiles, stream);
    return;
  }
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const TileChunk chunk = tile_chunk(tiles, first, count);
    if (a.hd == 64)
      launch_flash_any<64, false>(a, 1, int(kIntMax), Partials{}, stream, chunk, int64_t(count));
    else
      launch_flash_any<128, false>(a, 1, int(kIntMax), Partials{}, stream, chunk, int64_t(count));
  }
}

void launch_flash_attention(const AttentionArgs& a, int splits, int64_t tiles_per_split,
                            Partials part, cudaStream_t stream) {
  const int tps = int(tiles_per_split);
  if (a.hd == 64) {
    a.int8 ? launch_flash_any<64, true>(a, splits, tps, part, stream)
           : launch_flash_any<64, false>(a, splits, tps, part, stream);
  } else if (a.hd == 128) {
    a.int8 ? launch_flash_any<128, true>(a, splits, tps, part, stream)
           : launch_flash_any<128, false>(a, splits, tps, part, stream);
  } else {
    fail("CUDA flash attention: head_dim ", a.hd, " not supported");
  }
}

}  // namespace rcc::cuda
