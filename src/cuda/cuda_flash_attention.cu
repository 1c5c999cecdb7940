// Fused causal attention for prefill (FlashAttention-2 style) on bf16 tensor cores.
//
// Grid (query tiles, heads, key splits); block 128 threads = 4 warps. A block owns BM = 64 query
// rows of one head (warp w: rows 16w..16w+15) and walks key tiles of BN = 64 keys:
//   S = Q·Kᵀ (mma.sync m16n8k16, bf16 in, f32 accumulate) → scale, causal mask by absolute
//   position → online softmax (running max and sum per row, f32, log2 domain) → O += P·V with P
//   rounded to bf16 straight from the S accumulators (their layout is the A-operand layout).
// Q (once) and K/V tiles (double-buffered, cp.async, prefetching tile t+1 while computing tile t)
// live in shared memory with rows padded to HD + 8 bf16, so that the 8 rows an ldmatrix reads
// fall into distinct banks. The int8 cache is dequantised (value · per-row scale → bf16) on the
// way into shared memory (synchronous loads). The rows × keys score matrix never leaves registers.
//
// With key splits (few query tiles against a long cache), block z handles key tiles
// [z·tps, (z+1)·tps) and writes an f32 partial (normalised output + log2-sum-exp) that
// launch_attention_combine merges.
//
// Register fragments (PTX ISA, mma.m16n8k16 with .bf16): lane = 4·g + tq;
//   A (16×16, row): a0 = (g, 2tq..+1), a1 = (g+8, 2tq..), a2 = (g, 2tq+8..), a3 = (g+8, 2tq+8..)
//   B (16×8, col):  b0 = (k 2tq..+1, n g), b1 = (k 2tq+8..+9, n g)
//   C (16×8):       c0,c1 = (g, 2tq..+1), c2,c3 = (g+8, 2tq..+1)
#include "cuda/cuda_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int BM = kFlashBlockM;
constexpr int BN = kFlashBlockN;
constexpr int kThreads = 128;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}
// 16 bytes global → shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(n)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// d += a · b (16×8×16, bf16 → f32).
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  return *reinterpret_cast<uint32_t*>(&v);
}

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

template <int HD, bool kInt8>
__global__ void __launch_bounds__(kThreads)
    flash_attention_kernel(AttentionArgs a, int splits, int tiles_per_split, Partials part) {
  constexpr int LD = HD + 8;      // shared-memory row pitch (bf16): 16-byte multiple, odd in 16 B units
  constexpr int KSTEPS = HD / 16; // k-steps of Q·Kᵀ
  constexpr int NT = HD / 8;      // 8-wide output column tiles
  constexpr int CHUNKS = HD / 8;  // 16-byte chunks per bf16 row
  static_assert(HD % 64 == 0 && (BN * HD / 16) % kThreads == 0 && (BM * CHUNKS) % kThreads == 0,
                "tile loads must divide evenly over the block");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);  // [BM][LD]
  bf16* Ks = Qs + BM * LD;                       // [2][BN][LD]
  bf16* Vs = Ks + 2 * BN * LD;                   // [2][BN][LD]

  const int qt = int(gridDim.x) - 1 - int(blockIdx.x);  // the longest (last) query tiles first
  const int h = blockIdx.y, z = blockIdx.z;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t rows = a.rows, past = a.past;
  const int64_t m0 = int64_t(qt) * BM;
  // Keys visible to the tile's last row: [0, n_keys). Later keys are zero-filled and masked.
  const int64_t n_keys = past + min(m0 + BM, rows);
  const int n_tiles = int((n_keys + BN - 1) / BN);
  const int t_begin = z * tiles_per_split;
  const int t_end = min(n_tiles, t_begin + tiles_per_split);
  const int64_t row0 = m0 + warp * 16 + g;  // this thread's query rows: row0 and row0 + 8

  float o[NT][4];
#pragma unroll
  for (int d = 0; d < NT; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float mrow[2] = {-INFINITY, -INFINITY};  // running max (log2 domain), per row half
  float lrow[2] = {0.0f, 0.0f};            // running sum of this thread's columns

  auto load_kv = [&](int t, int buf) {
    const int64_t key0 = int64_t(t) * BN;
    bf16* kd = Ks + buf * BN * LD;
    bf16* vd = Vs + buf * BN * LD;
    if constexpr (!kInt8) {
      const bf16* kg = static_cast<const bf16*>(a.k) + int64_t(h) * HD;
      const bf16* vg = static_cast<const bf16*>(a.v) + int64_t(h) * HD;
#pragma unroll 2  // (full unrolling hoists addresses: +60 registers)
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
      constexpr int C16 = HD / 16;  // 16-byte chunks per int8 row
      const int8_t* kg = static_cast<const int8_t*>(a.k) + int64_t(h) * HD;
      const int8_t* vg = static_cast<const int8_t*>(a.v) + int64_t(h) * HD;
#pragma unroll 2  // (full unrolling hoists addresses: +60 registers)
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
          ks = a.k_scale[key * a.heads + h];
          vs = a.v_scale[key * a.heads + h];
        }
        store_dequant16(kd + r * LD + c * 16, kr, ks);
        store_dequant16(vd + r * LD + c * 16, vr, vs);
      }
    }
  };

  if (t_begin < t_end) {  // block-uniform
    // Q tile [BM, HD]; rows past the end are zero (computed, never stored).
#pragma unroll
    for (int it = 0; it < BM * CHUNKS / kThreads; ++it) {
      const int i = tid + it * kThreads;
      const int r = i / CHUNKS, c = i % CHUNKS;
      const int64_t qr = m0 + r;
      const bool valid = qr < rows;
      cp_async16(Qs + r * LD + c * 8, a.q + (valid ? qr : 0) * a.q_stride + int64_t(h) * HD + c * 8,
                 valid);
    }
    cp_async_commit();
    load_kv(t_begin, 0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    // Q fragments of this warp's 16 rows, kept in registers for the whole key loop.
    // ldmatrix.x4: lanes 0-15 address rows 0-15 at column 16kk, lanes 16-31 the same rows at +8.
    uint32_t qf[KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk)
      ldmatrix_x4(qf[kk], Qs + (warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);

    for (int t = t_begin; t < t_end; ++t) {
      const int buf = (t - t_begin) & 1;
      if (t + 1 < t_end) {
        load_kv(t + 1, buf ^ 1);  // buf^1 was released by the barrier that ended iteration t-1
        cp_async_commit();
        cp_async_wait<1>();       // everything but the group just committed has landed
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      const bf16* Kb = Ks + buf * BN * LD;
      const bf16* Vb = Vs + buf * BN * LD;

      // S[16, 64] = Q·Kᵀ for this warp: 8 n-tiles of 8 keys.
      float s[8][4];
#pragma unroll
      for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
#pragma unroll
        for (int np = 0; np < 4; ++np) {
          // Matrices: (keys 16np+0..7, dims 16kk+0..7), (same keys, dims +8..15),
          //           (keys 16np+8..15, dims 16kk+0..7), (keys +8..15, dims +8..15).
          uint32_t b[4];
          ldmatrix_x4(b, Kb + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + kk * 16 +
                             ((lane >> 3) & 1) * 8);
          mma_bf16(s[2 * np], qf[kk], b[0], b[1]);
          mma_bf16(s[2 * np + 1], qf[kk], b[2], b[3]);
        }
      }

      // Scale to the log2 domain; mask keys after the query's position (only tiles that reach
      // past the block's first query position need it).
      const int64_t key0 = int64_t(t) * BN;
      const bool need_mask = key0 + BN - 1 > past + m0;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float v = s[n][e] * a.scale_log2;
          if (need_mask) {
            const int64_t kpos = key0 + n * 8 + 2 * tq + (e & 1);
            const int64_t qpos = past + row0 + (e >> 1) * 8;
            if (kpos > qpos) v = -INFINITY;
          }
          s[n][e] = v;
        }
      }

      // Online softmax; the 4 threads of a quad (same g) share rows.
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * hh], s[n][2 * hh + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(mrow[hh], mx);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // row fully masked so far
        const float corr = exp2f(mrow[hh] - m_use);
        mrow[hh] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < 8; ++n) {
          const float p0 = exp2f(s[n][2 * hh] - m_use);
          const float p1 = exp2f(s[n][2 * hh + 1] - m_use);
          s[n][2 * hh] = p0;
          s[n][2 * hh + 1] = p1;
          sum += p0 + p1;
        }
        lrow[hh] = lrow[hh] * corr + sum;
#pragma unroll
        for (int d = 0; d < NT; ++d) {
          o[d][2 * hh] *= corr;
          o[d][2 * hh + 1] *= corr;
        }
      }

      // O[16, HD] += P[16, 64] · V[64, HD], 16 keys per k-step.
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        uint32_t pa[4];
        pa[0] = pack_bf16(s[2 * ks][0], s[2 * ks][1]);
        pa[1] = pack_bf16(s[2 * ks][2], s[2 * ks][3]);
        pa[2] = pack_bf16(s[2 * ks + 1][0], s[2 * ks + 1][1]);
        pa[3] = pack_bf16(s[2 * ks + 1][2], s[2 * ks + 1][3]);
#pragma unroll
        for (int dp = 0; dp < HD / 16; ++dp) {
          // Transposed matrices: (keys 16ks+0..7, dims 16dp+0..7), (keys +8..15, dims +0..7),
          //                      (keys +0..7, dims +8..15), (keys +8..15, dims +8..15).
          uint32_t b[4];
          ldmatrix_x4_trans(b, Vb + (ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                   (lane >> 4) * 8);
          mma_bf16(o[2 * dp], pa, b[0], b[1]);
          mma_bf16(o[2 * dp + 1], pa, b[2], b[3]);
        }
      }
      __syncthreads();  // this buffer is refilled two iterations later
    }
  }

  // Row sums over the quad, then out = O / l (or the split's partial).
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    lrow[hh] += __shfl_xor_sync(0xffffffffu, lrow[hh], 1);
    lrow[hh] += __shfl_xor_sync(0xffffffffu, lrow[hh], 2);
  }
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int64_t row = row0 + hh * 8;
    if (row >= rows) continue;
    const float l = lrow[hh];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    if (splits == 1) {
      bf16* dst = a.out + row * a.out_stride + int64_t(h) * HD + 2 * tq;
#pragma unroll
      for (int d = 0; d < NT; ++d)
        *reinterpret_cast<__nv_bfloat162*>(dst + d * 8) =
            __floats2bfloat162_rn(o[d][2 * hh] * inv, o[d][2 * hh + 1] * inv);
    } else {
      const int64_t pi = (row * a.heads + h) * splits + z;
      float* dst = part.o + pi * HD + 2 * tq;
#pragma unroll
      for (int d = 0; d < NT; ++d)
        *reinterpret_cast<float2*>(dst + d * 8) = make_float2(o[d][2 * hh] * inv, o[d][2 * hh + 1] * inv);
      if (tq == 0) part.lse[pi] = l > 0.0f ? mrow[hh] + log2f(l) : -INFINITY;
    }
  }
}

template <int HD, bool kInt8>
void launch_flash(const AttentionArgs& a, int splits, int tiles_per_split, Partials part,
                  cudaStream_t stream) {
  constexpr int LD = HD + 8;
  const size_t smem = size_t(BM + 4 * BN) * LD * sizeof(bf16);
  auto kernel = flash_attention_kernel<HD, kInt8>;
  RCC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid(unsigned((a.rows + BM - 1) / BM), unsigned(a.heads), unsigned(splits));
  kernel<<<grid, kThreads, smem, stream>>>(a, splits, tiles_per_split, part);
  RCC_CUDA_LAUNCH_CHECK();
}

bool aligned(const void* p, size_t n) { return (reinterpret_cast<uintptr_t>(p) % n) == 0; }

}  // namespace

bool flash_supported(const AttentionArgs& a) {
  if (a.hd != 64 && a.hd != 128) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0) return false;
  if (!aligned(a.out, 4) || a.out_stride % 2 != 0) return false;
  const int kv_align = a.int8 ? 16 : 8;  // elements per 16-byte load
  if (!aligned(a.k, 16) || !aligned(a.v, 16) || a.kv_stride % kv_align != 0) return false;
  return a.rows < (int64_t(1) << 30) && a.heads < 65536;
}

void launch_flash_attention(const AttentionArgs& a, int splits, int64_t tiles_per_split,
                            Partials part, cudaStream_t stream) {
  const int tps = int(tiles_per_split);
  if (a.hd == 64) {
    a.int8 ? launch_flash<64, true>(a, splits, tps, part, stream)
           : launch_flash<64, false>(a, splits, tps, part, stream);
  } else if (a.hd == 128) {
    a.int8 ? launch_flash<128, true>(a, splits, tps, part, stream)
           : launch_flash<128, false>(a, splits, tps, part, stream);
  } else {
    fail("CUDA flash attention: head_dim ", a.hd, " not supported");
  }
}

}  // namespace rcc::cuda
