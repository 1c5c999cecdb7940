// Attention backward, deterministic scheme (overview: backward.cu): dq blocks (one
// per query tile, warp rows = queries) and dk/dv blocks (one per key tile, transposed orientation)
// in one grid, every output row written once by one warp: bit-reproducible.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cuda/attention/backward.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

// ---------------------------------------------------------------------------------------------
// dq of one 64-query tile: for key tiles 0..qt, S = Q·Kᵀ, P = 2^(S·c − LSE), dP = dO·Vᵀ,
// dS = P ⊙ (dP − D), dQ += dS·K; dq = scale·dQ. Warp w owns query rows 16w..16w+15.
// Shared memory: Q, dO [kTile][LD], K, V [2][kTile][LD].
template <int HD, bool QREG>
__device__ __forceinline__ void dq_block(const BwdParams& p, const BlockTile& bt,
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
  const int qt = bt.tile, h = bt.h;
  const int64_t n = bt.n, stride = p.stride, qs = p.qkv_stride;
  const int64_t q0 = int64_t(qt) * kTile;
  const int64_t wq0 = q0 + warp * 16;
  const HeadOffsets off = head_offsets(p, bt.begin, h);  // row 0 of the sequence, head h
  const int64_t soff = int64_t(h) * p.ld + bt.begin;     // its stats
  const float c = p.scale_log2;

  load_tile_async<HD>(Qs, p.q + off.qkv, q0, n, qs, tid);
  load_tile_async<HD>(dOs, p.dout + off.o, q0, n, stride, tid);
  load_tile_async<HD>(Ks, p.k + off.qkv, 0, n, qs, tid);
  load_tile_async<HD>(Vs, p.v + off.qkv, 0, n, qs, tid);
  cp_async_commit();
  // LSE and D of rows g, g + 8 of this warp (rows ≥ n: 0; their results are never stored).
  float lse[2], drow[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = wq0 + g + hh * 8;
    lse[hh] = row < n ? p.lse[soff + row] : 0.0f;
    drow[hh] = row < n ? p.dd[soff + row] : 0.0f;
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
    cp_async_prefetch_or_drain(t < qt, [&] {
      const int64_t r0 = int64_t(t + 1) * kTile;
      load_tile_async<HD>(Ks + (buf ^ 1) * kTile * LD, p.k + off.qkv, r0, n, qs, tid);
      load_tile_async<HD>(Vs + (buf ^ 1) * kTile * LD, p.v + off.qkv, r0, n, qs, tid);
    });
    __syncthreads();
    const bf16* Kb = Ks + buf * kTile * LD;
    const bool diag = t == qt;
    // On the diagonal tile (key base q0) 16-key group j follows every row of warp w when j > w.
    const int kg_end = diag ? warp + 1 : KGS;
    float s[SN][4], dp[SN][4];
    qk_scores<HD, QREG, true>(Qs, dOs, qf, df, Kb, Vs + buf * kTile * LD, warp, lane, kg_end, s,
                              dp);
    // P (0 where masked: key > query) and dS = P ⊙ (dP − D), written over dp; compiled with
    // and without the mask (the diagonal tile / every other), so that the common case carries no
    // mask arithmetic (as transposed_probabilities, backward.cuh).
    auto probabilities = [&](auto mask_c) {
      constexpr bool kMask = decltype(mask_c)::value;
#pragma unroll
      for (int j = 0; j < SN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t key = int64_t(t) * kTile + j * 8 + 2 * tq + (e & 1);
          const int64_t qry = wq0 + g + (e >> 1) * 8;
          const bool masked = kMask && key > qry;
          const float pv = masked ? 0.0f : exp2f(fmaf(s[j][e], c, -lse[e >> 1]));
          dp[j][e] = pv * (dp[j][e] - drow[e >> 1]);
        }
    };
    if (diag)
      probabilities(std::true_type{});
    else
      probabilities(std::false_type{});
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
    bf16* dst = p.dq + row * qs + off.qkv + 2 * tq;
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
__device__ __forceinline__ void dkdv_block(const BwdParams& p, const BlockTile& bt,
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
  const int kt = bt.tile, h = bt.h;
  const int64_t n = bt.n, stride = p.stride, qs = p.qkv_stride;
  const int64_t k0 = int64_t(kt) * kTile;
  const int64_t wk0 = k0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const HeadOffsets off = head_offsets(p, bt.begin, h);  // row 0 of the sequence, head h
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * p.ld + bt.begin;
  const float* dd_h = p.dd + int64_t(h) * p.ld + bt.begin;

  auto load_q = [&](int i, int buf) {  // query tile i: Q, dO, LSE, D
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_async<HD>(Qs + buf * kTile * LD, p.q + off.qkv, r0, n, qs, tid);
    load_tile_async<HD>(dOs + buf * kTile * LD, p.dout + off.o, r0, n, stride, tid);
    const int r = tid & (kTile - 1);
    const int64_t row = r0 + r;
    const bool valid = row < n;
    if (tid < kTile)
      cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
    else
      cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
  };

  load_tile_async<HD>(Ks, p.k + off.qkv, k0, n, qs, tid);
  load_tile_async<HD>(Vs, p.v + off.qkv, k0, n, qs, tid);
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
    cp_async_prefetch_or_drain(i + 1 < nqt, [&] { load_q(i + 1, buf ^ 1); });
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

      // Pᵀ over st, dSᵀ over dpt (0 where masked: key > query, or query ≥ n).
      transposed_probabilities(need_mask, st, dpt, Lb, Db, sb * QSUB, q0, wk0, n, g, tq, c);

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
    bf16* kdst = p.dk + row * qs + off.qkv + 2 * tq;
    bf16* vdst = p.dv + row * qs + off.qkv + 2 * tq;
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
// overlap), one block row per entry of p.tiles (causal_tiles of every sequence, key and query
// tiles: dk/dv of key tile j and dq of query tile T-1-j alternate, the longest work first).
template <int HD, bool QREG, int QSUB, int MINB>
__global__ void __launch_bounds__(kThreads, MINB)
    grad_kernel(BwdParams p, const __grid_constant__ TileChunk tiles) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const BlockTile bt = block_tile(tiles);
  if (bt.kind == 0)
    dq_block<HD, QREG>(p, bt, smem_raw);
  else
    dkdv_block<HD, QSUB>(p, bt, smem_raw);
}

}  // namespace

template <int HD, bool QREG, int QSUB, int MINB>
void launch_grad_det(const BwdParams& p, const std::vector<AttnTile>& tiles, cudaStream_t stream) {
  constexpr int LD = HD + 8;
  // max(dq: Q, dO, 2 K, 2 V tiles; dk/dv: K, V, 2 Q, 2 dO tiles + 2 LSE, 2 D rows)
  constexpr size_t smem = size_t(6 * kTile * LD) * sizeof(bf16) + 4 * kTile * sizeof(float);
  auto kernel = grad_kernel<HD, QREG, QSUB, MINB>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const dim3 grid(unsigned(p.heads), unsigned(count));  // block_tile's layout
    kernel<<<grid, kThreads, smem, stream>>>(p, tile_chunk(tiles, first, count));
    RCC_CUDA_LAUNCH_CHECK();
  }
}

template void launch_grad_det<64, false, 32, 3>(const BwdParams&, const std::vector<AttnTile>&,
                                                cudaStream_t);
template void launch_grad_det<128, false, 16, 1>(const BwdParams&, const std::vector<AttnTile>&,
                                                 cudaStream_t);

}  // namespace rcc::cuda::attn_bwd
