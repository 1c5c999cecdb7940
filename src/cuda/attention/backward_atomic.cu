// Attention backward, atomic scheme (overview: backward.cu): dk/dv blocks that also
// add their share of dQ to f32 accumulators (red.global.add), then dq = bf16(scale · dQ). Not
// bit-reproducible (addition order).
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "cuda/attention/backward.cuh"

namespace rcc::cuda::attn_bwd {
namespace {

// *p += a, *(p + 1) += b: one fire-and-forget vector reduction (sm_90), p 8-byte aligned.
__device__ __forceinline__ void red_add2(float* p, float a, float b) {
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
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
// dK, dV are merged through shared memory at the end. (dkdv_block:
// backward_deterministic.cu.)
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
    grad_atomic_kernel(BwdParams p, const __grid_constant__ TileChunk tiles) {
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

  // One block row per key tile of the chunk (causal_tiles of every sequence, key tiles only).
  const BlockTile bt = block_tile(tiles);
  const int kt = bt.tile, h = bt.h;
  const int64_t n = bt.n, stride = p.stride, qs = p.qkv_stride;
  const int64_t k0 = int64_t(kt) * kTile;
  const int64_t wk0 = k0 + warp * 16;  // this warp's first key row
  const int nqt = int((n + kTile - 1) / kTile);
  const HeadOffsets off = head_offsets(p, bt.begin, h);  // row 0 of the sequence, head h
  const float c = p.scale_log2;
  const float* lse_h = p.lse + int64_t(h) * p.ld + bt.begin;
  const float* dd_h = p.dd + int64_t(h) * p.ld + bt.begin;
  float* dqacc = p.dqacc + off.o;

  auto load_q = [&](int i, int buf) {  // query tile i: Q, dO, LSE, D (this group's threads)
    const int64_t r0 = int64_t(i) * kTile;
    load_tile_async<HD>(Qs + buf * L::tile, p.q + off.qkv, r0, n, qs, tid);
    load_tile_async<HD>(dOs + buf * L::tile, p.dout + off.o, r0, n, stride, tid);
    const int r = tid & (kTile - 1);
    const int64_t row = r0 + r;
    const bool valid = row < n;
    if (tid < kTile)
      cp_async4(Ls + buf * kTile + r, lse_h + (valid ? row : 0), valid);
    else
      cp_async4(Dsm + buf * kTile + r, dd_h + (valid ? row : 0), valid);
  };

  load_tile_async<HD, NTHR>(Ks, p.k + off.qkv, k0, n, qs, btid);
  load_tile_async<HD, NTHR>(Vs, p.v + off.qkv, k0, n, qs, btid);
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
    cp_async_prefetch_or_drain(i + KG < nqt, [&] { load_q(i + KG, buf ^ 1); });
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
      transposed_probabilities(need_mask, st, dpt, Lb, Db, sb * QSUB, q0, wk0, n, g, tq, c);
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

}  // namespace

template <int HD, int QSUB, int KG, int MINB>
void launch_grad_atomic(const BwdParams& p, const std::vector<AttnTile>& tiles,
                        cudaStream_t stream) {
  constexpr size_t smem = AtomicLayout<HD, KG>::bytes;
  auto kernel = grad_atomic_kernel<HD, QSUB, KG, MINB>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_smem(kernel, smem, configured);
  for (size_t first = 0; first < tiles.size(); first += kTilesPerLaunch) {
    const size_t count = std::min(tiles.size() - first, size_t(kTilesPerLaunch));
    const dim3 grid(unsigned(p.heads), unsigned(count));  // block_tile's layout
    kernel<<<grid, kThreads * KG, smem, stream>>>(p, tile_chunk(tiles, first, count));
    RCC_CUDA_LAUNCH_CHECK();
  }
  launch_dq_convert(p, stream);
}

namespace {
// dq = bf16(scale · dQ) from the [ld, heads·hd] f32 accumulators (every row of the batch) into
// dq's layout (row r, head h at r·qkv_stride + h·qkv_head), 4 elements per thread (hd % 4 == 0).
// ROTARY: the inverse rotary folded in (rotary_qkv's backward, before the one rounding): for
// c < half a thread also takes the partner columns c + half..c + half + 3 (x1 = dQ[i],
// x2 = dQ[i + half]: x1·cos + x2·sin, x2·cos − x1·sin by the angles of the row's position); the
// partners' own threads return; columns from 2·half on are converted as they are. Rows with
// pos −1 (in no sequence) are not rotated.
template <bool ROTARY>
__global__ void __launch_bounds__(256)
    dq_convert_kernel(const float* acc, bf16* dq, int64_t count4, int stride4, int hd4,
                      int64_t qkv_stride, int qkv_head, float scale, const int32_t* pos,
                      const float* rope, int half) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int half4 = half / 4;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count4; i += step) {
    const int64_t row = i / stride4;
    const int col4 = int(i - row * stride4), h = col4 / hd4, c4 = col4 - h * hd4;
    bf16* dst = dq + row * qkv_stride + int64_t(h) * qkv_head + 4 * c4;
    float4 v = reinterpret_cast<const float4*>(acc)[i];
    v = make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale);
    if constexpr (ROTARY) {
      const int position = pos[row];
      const bool rotated = position >= 0 && c4 < 2 * half4;
      if (rotated && c4 >= half4) continue;  // done by the partner's thread
      if (rotated) {
        float4 w = reinterpret_cast<const float4*>(acc)[i + half4];
        w = make_float4(w.x * scale, w.y * scale, w.z * scale, w.w * scale);
        const float4* cs =
            reinterpret_cast<const float4*>(rope + (int64_t(position) * half + 4 * c4) * 2);
        const float4 a = cs[0], b = cs[1];  // (cos, sin) of pairs 4c4 .. 4c4 + 3
        const float x[4] = {v.x, v.y, v.z, v.w}, y[4] = {w.x, w.y, w.z, w.w};
        const float c[4] = {a.x, a.z, b.x, b.z}, sn[4] = {a.y, a.w, b.y, b.w};
        float o1[4], o2[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          o1[u] = x[u] * c[u] + y[u] * sn[u];
          o2[u] = y[u] * c[u] - x[u] * sn[u];
        }
        uint2 hi;
        hi.x = pack_bf16(o2[0], o2[1]);
        hi.y = pack_bf16(o2[2], o2[3]);
        *reinterpret_cast<uint2*>(dst + half) = hi;
        v = make_float4(o1[0], o1[1], o1[2], o1[3]);
      }
    }
    uint2 o;
    o.x = pack_bf16(v.x, v.y);
    o.y = pack_bf16(v.z, v.w);
    *reinterpret_cast<uint2*>(dst) = o;
  }
}

}  // namespace

void launch_dq_convert(const BwdParams& p, cudaStream_t stream, const RotaryGrad* fold) {
  // Every row of the batch; stride a multiple of 64, the dq rows 8-byte aligned (checked by the
  // caller).
  const int64_t count4 = int64_t(p.ld) * p.stride / 4;
  const int64_t blocks = std::min<int64_t>((count4 + 255) / 256, 4096);
  if (fold && fold->half > 0) {
    RCC_CHECK(fold->half % 4 == 0 && 2 * fold->half <= p.hd && fold->pos && fold->rope,
              "attention backward: cannot fold a rotary half of ", fold->half, " into head_dim ",
              p.hd);
    dq_convert_kernel<true><<<unsigned(blocks), 256, 0, stream>>>(
        p.dqacc, p.dq, count4, p.stride / 4, p.hd / 4, p.qkv_stride, p.qkv_head, p.scale, fold->pos,
        fold->rope, fold->half);
  } else {
    dq_convert_kernel<false><<<unsigned(blocks), 256, 0, stream>>>(
        p.dqacc, p.dq, count4, p.stride / 4, p.hd / 4, p.qkv_stride, p.qkv_head, p.scale, nullptr,
        nullptr, 0);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

template void launch_grad_atomic<128, 16, 1, 2>(const BwdParams&, const std::vector<AttnTile>&,
                                                cudaStream_t);

}  // namespace rcc::cuda::attn_bwd
