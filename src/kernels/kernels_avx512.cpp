// The avx512 level (kernels.h): AVX-512 F/BW/VL/DQ, and VNNI for int8 weights where the CPU has it
// (else the avx2 level's int8 kernel, which gives the same bits). Compiled for those instructions
// by function attributes whatever the build's -march, run only where cpu_isa.h finds them.
#include "kernels/kernels.h"

#if defined(__x86_64__)
// GCC 12 reports its own AVX-512 intrinsics' placeholder operands as uninitialised (GCC bug
// 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/common.h"
#include "kernels/gemm_driver.h"

#define RCC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define RCC_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#define RCC_AVX512_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

namespace rcc::kernels {

namespace {

// 16 consecutive weights from element i as f32.
template <DType T>
RCC_AVX512 inline __m512 load_w(const void* W, int64_t i) {
  if constexpr (T == DType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(W) + i);
  } else {
    const __m256i h =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(W) + i));
    if constexpr (T == DType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else
      return _mm512_cvtph_ps(h);
  }
}

// Lanes i and i + 8 first, then (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)): a fixed tree.
RCC_AVX512 inline float hsum16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

RCC_AVX512 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An MR × NR tile of dot products (16 lanes over k ≡ lane mod 16, hsum16, then the tail in order).
// Columns j >= cols repeat the last one and are not written.
template <DType T, int MR, int NR>
RCC_AVX512 void tile_nt(int64_t K, int64_t ldw, float alpha, const float* const* xr,
                        const int64_t* wc, const void* W, float* const* yr, const int64_t* yc,
                        int64_t cols, bool accumulate) {
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const int64_t K16 = K / 16 * 16;
  constexpr int64_t kBytes = T == DType::F32 ? 4 : 2;
  for (int64_t k = 0; k < K16; k += 16) {
    __m512 w[NR];
    for (int j = 0; j < NR; ++j) {
      // The next tile's rows at this k: the weights stream in order ahead of their use.
      _mm_prefetch(static_cast<const char*>(W) + (wc[j] + NR * ldw + k) * kBytes, _MM_HINT_T0);
      w[j] = load_w<T>(W, wc[j] + k);
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_loadu_ps(xr[i] + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(xv, w[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR && j < cols; ++j) {
      float s = hsum16(acc[i][j]);
      for (int64_t k = K16; k < K; ++k) s = std::fma(xr[i][k], weight_at(W, T, wc[j] + k), s);
      s *= alpha;
      float& out = yr[i][yc[j]];
      out = accumulate ? out + s : s;
    }
}

// Rows in tiles of up to 4 × 4 weight rows: each weight row read once per row tile.
template <DType T>
void rowwise_typed(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                   const void* W, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  for (int64_t n0 = 0; n0 < N; n0 += 4) {
    const int64_t cols = std::min<int64_t>(4, N - n0);
    int64_t wc[4], yc[4];
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + std::min<int64_t>(j, cols - 1);
      wc[j] = n * ldw;
      yc[j] = n;
    }
    for (int64_t r0 = 0; r0 < M; r0 += 4) {
      const int64_t rows = std::min<int64_t>(4, M - r0);
      const float* xr[4];
      float* yr[4];
      for (int i = 0; i < 4; ++i) {
        xr[i] = x + (r0 + std::min<int64_t>(i, rows - 1)) * ldx;
        yr[i] = y + (r0 + std::min<int64_t>(i, rows - 1)) * ldy;
      }
      switch (rows) {
        case 1:
          tile_nt<T, 1, 4>(K, ldw, alpha, xr, wc, W, yr, yc, cols, accumulate);
          break;
        case 2:
          tile_nt<T, 2, 4>(K, ldw, alpha, xr, wc, W, yr, yc, cols, accumulate);
          break;
        case 3:
          tile_nt<T, 3, 4>(K, ldw, alpha, xr, wc, W, yr, yc, cols, accumulate);
          break;
        default:
          tile_nt<T, 4, 4>(K, ldw, alpha, xr, wc, W, yr, yc, cols, accumulate);
          break;
      }
    }
  }
}

void rowwise_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                const void* W, DType wt, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  switch (wt) {
    case DType::F32:
      return rowwise_typed<DType::F32>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
    case DType::BF16:
      return rowwise_typed<DType::BF16>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
    default:
      return rowwise_typed<DType::F16>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
  }
}

// BF16 weights by vdpbf16ps (AVX512_BF16). Each x row is split into two bf16 parts, hi = bf16(x)
// and lo = bf16(x - hi), so hi + lo keeps 16 significant bits of x (the weights are exact in
// bf16): per chunk of 32 k, lane l accumulates the pairs (2l, 2l + 1) of hi, then of lo; then
// hsum16 and the k tail in order with the f32 x. The same order for every row and tile.
template <int MR, int NR>
RCC_AVX512_BF16 void tile_bf16dp(int64_t K, int64_t ldw, float alpha, const uint16_t* const* xh,
                                 const uint16_t* const* xl, const float* const* xr,
                                 const uint16_t* const* wr, float* const* yr, int64_t cols,
                                 bool accumulate) {
  __m512 ah[MR][NR], al[MR][NR];  // the hi and lo parts' sums, added at the end
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) ah[i][j] = al[i][j] = _mm512_setzero_ps();
  const int64_t K32 = K / 32 * 32;
  for (int64_t k = 0; k < K32; k += 32) {
    __m512bh w[NR];
    for (int j = 0; j < NR; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + NR * ldw + k), _MM_HINT_T0);  // next tile
      w[j] = (__m512bh)_mm512_loadu_si512(wr[j] + k);
    }
    for (int i = 0; i < MR; ++i) {
      const __m512bh h = (__m512bh)_mm512_loadu_si512(xh[i] + k);
      const __m512bh l = (__m512bh)_mm512_loadu_si512(xl[i] + k);
      for (int j = 0; j < NR; ++j) {
        ah[i][j] = _mm512_dpbf16_ps(ah[i][j], h, w[j]);
        al[i][j] = _mm512_dpbf16_ps(al[i][j], l, w[j]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR && j < cols; ++j) {
      float s = hsum16(_mm512_add_ps(ah[i][j], al[i][j]));
      for (int64_t k = K32; k < K; ++k) s = std::fma(xr[i][k], bf16_to_f32(wr[j][k]), s);
      s *= alpha;
      yr[i][j] = accumulate ? yr[i][j] + s : s;
    }
}

void rowwise_bf16dp(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                    const void* W, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  thread_local std::vector<uint16_t> split;
  if (int64_t(split.size()) < 2 * M * K) split.resize(size_t(2 * M * K));
  uint16_t* hi = split.data();
  uint16_t* lo = hi + M * K;
  for (int64_t r = 0; r < M; ++r)
    for (int64_t k = 0; k < K; ++k) {
      const float v = x[r * ldx + k];
      const uint16_t h = f32_to_bf16(v);
      hi[r * K + k] = h;
      lo[r * K + k] = f32_to_bf16(v - bf16_to_f32(h));
    }
  const uint16_t* Wb = static_cast<const uint16_t*>(W);
  for (int64_t n0 = 0; n0 < N; n0 += 4) {
    const int64_t cols = std::min<int64_t>(4, N - n0);
    const uint16_t* wr[4];
    for (int j = 0; j < 4; ++j) wr[j] = Wb + (n0 + std::min<int64_t>(j, cols - 1)) * ldw;
    for (int64_t r0 = 0; r0 < M; r0 += 2) {
      const int64_t rows = std::min<int64_t>(2, M - r0);
      const uint16_t* xh[2];
      const uint16_t* xl[2];
      const float* xr[2];
      float* yr[2];
      for (int i = 0; i < 2; ++i) {
        const int64_t r = r0 + std::min<int64_t>(i, rows - 1);
        xh[i] = hi + r * K;
        xl[i] = lo + r * K;
        xr[i] = x + r * ldx;
        yr[i] = y + r * ldy + n0;
      }
      if (rows == 1)
        tile_bf16dp<1, 4>(K, ldw, alpha, xh, xl, xr, wr, yr, cols, accumulate);
      else
        tile_bf16dp<2, 4>(K, ldw, alpha, xh, xl, xr, wr, yr, cols, accumulate);
    }
  }
}

void rowwise_nt_bf16dp(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                       const void* W, DType wt, int64_t ldw, float* y, int64_t ldy,
                       bool accumulate) {
  if (wt == DType::BF16) return rowwise_bf16dp(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
  rowwise_nt(M, N, K, alpha, x, ldx, W, wt, ldw, y, ldy, accumulate);
}

// C[MR, 32] = alpha · c (+ bias) (+ beta · C): the store of both GEMM micro-kernels.
template <int MR>
RCC_AVX512 inline void store_tile(const __m512 (&c)[MR][2], float* C, int64_t ldc, float alpha,
                                  float beta, const float* bias) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) {
      float* out = C + i * ldc + h * 16;
      __m512 r = _mm512_mul_ps(c[i][h], va);
      if (bias) r = _mm512_add_ps(r, _mm512_loadu_ps(bias + h * 16));
      if (beta != 0.0f) r = _mm512_fmadd_ps(_mm512_loadu_ps(out), vb, r);
      _mm512_storeu_ps(out, r);
    }
}

// 12 × 32 tiles: 24 accumulators, two B vectors, A broadcast from memory.
struct Micro {
  using Elem = float;
  static constexpr int MR = 12, NR = 32, P = 1;
  RCC_AVX512 static void run(int64_t kc, const float* A, const float* B, float* C, int64_t ldc,
                             float alpha, float beta, const float* bias) {
    __m512 c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, A += MR, B += NR) {
      const __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(A[i]);
        c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
        c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
      }
    }
    store_tile<MR>(c, C, ldc, alpha, beta, bias);
  }
};

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs, int64_t a_cs,
          const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta, float* C, int64_t ldc,
          const float* bias) {
  detail::PackedGemm<Micro>::run(M, N, K, alpha, A, a_rs, a_cs, B, bt, b_rs, b_cs, beta, C, ldc,
                                 bias);
}

// dst[g][c] = rows[c][g] for a 16 × 16 block of 32-bit values (three rounds of shuffles).
RCC_AVX512 inline void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // u[4a + c], 128-bit lane L: rows 4a..4a+3 at element 4L + c.
  for (int c = 0; c < 4; ++c) {
    const __m512i a0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
    const __m512i b0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
    const __m512i a1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
    const __m512i b1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_shuffle_i32x4(a0, b0, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(a0, b0, 0xDD);
    r[8 + c] = _mm512_shuffle_i32x4(a1, b1, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(a1, b1, 0xDD);
  }
}

// 12 × 32 tiles on bf16 pairs (vdpbf16ps): per group of two depths, 24 accumulators take
// A(i, 2g) · B(2g, j) + A(i, 2g + 1) · B(2g + 1, j); A's pair broadcast as one 32-bit value.
struct MicroBf16 {
  using Elem = uint16_t;
  static constexpr int MR = 12, NR = 32, P = 2;
  // The panel of 32 contiguous bf16 rows, 16 depth pairs at a time: each pair is one 32-bit
  // value, so a 16 × 16 transpose of them moves 16 rows' pairs into place at once.
  RCC_AVX512 static int64_t pack_bf16_panel(const uint16_t* rows, int64_t row_stride, int64_t kc,
                                            uint16_t* Bp) {
    const int64_t blocks = kc / 32;  // 16 pairs
    for (int64_t blk = 0; blk < blocks; ++blk)
      for (int half = 0; half < 2; ++half) {
        __m512i r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = _mm512_loadu_si512(rows + (half * 16 + i) * row_stride + blk * 32);
        transpose16(r);
        for (int g = 0; g < 16; ++g)
          _mm512_storeu_si512(Bp + ((blk * 16 + g) * NR + half * 16) * P, r[g]);
      }
    return blocks * 32;
  }

  RCC_AVX512_BF16 static void run(int64_t kp, const uint16_t* A, const uint16_t* B, float* C,
                                  int64_t ldc, float alpha, float beta, const float* bias) {
    __m512 c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t g = 0; g < kp; ++g, A += MR * P, B += NR * P) {
      const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B);
      const __m512bh b1 = (__m512bh)_mm512_loadu_si512(B + 32);
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        int32_t pair;
        std::memcpy(&pair, A + i * P, 4);
        const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
        c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
        c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
      }
    }
    store_tile<MR>(c, C, ldc, alpha, beta, bias);
  }
};

void gemm_bf16(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs,
               int64_t a_cs, const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta,
               float* C, int64_t ldc, const float* bias) {
  detail::PackedGemm<MicroBf16>::run(M, N, K, alpha, A, a_rs, a_cs, B, bt, b_rs, b_cs, beta, C, ldc,
                                     bias);
}

// One block's eight int32 lanes by VNNI (common.h): |w| (u8) · sign(x, w) (s8), 4 per lane.
RCC_AVX512_VNNI inline __m256i block_dot(__m256i w, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

template <int MR, int NR>
RCC_AVX512_VNNI void q8_tile(const Q8Tile& t) {
  const int64_t blocks = t.blocks;
  const int8_t* const* xr = t.xr;
  const float* const* xdr = t.xdr;
  const int8_t* const* wr = t.wr;
  const float* const* dwr = t.dwr;
  __m256 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    __m256i w[NR];
    for (int j = 0; j < NR; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + (NR * blocks + b) * kQ8Block),
                   _MM_HINT_T0);
      w[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[j] + b * kQ8Block));
    }
    for (int i = 0; i < MR; ++i) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[i] + b * kQ8Block));
      for (int j = 0; j < NR; ++j) {
        const __m256 dot = _mm256_cvtepi32_ps(block_dot(w[j], xv));
        acc[i][j] = _mm256_fmadd_ps(dot, _mm256_set1_ps(dwr[j][b] * xdr[i][b]), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR && j < t.cols; ++j) {
      const float v = hsum8(acc[i][j]);
      t.yr[i][j] = t.accumulate ? t.yr[i][j] + v : v;
    }
}

// n f16 scales to f32, 16 at a time.
RCC_AVX512 void widen_f16(const uint16_t* d, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i))));
  for (; i < n; ++i) out[i] = f16_to_f32(d[i]);
}

void q8_rows(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const int8_t* q,
             const uint16_t* d, float* y, int64_t ldy, bool accumulate, int8_t* xq, float* xd) {
  q8_rows_tiled<4>(
      M, N, K, x, ldx, q, d, y, ldy, accumulate, xq, xd,
      [](const Q8Tile& t) {
        switch (t.rows) {  // the exact row count: a repeated row would be accumulated twice
          case 1:
            return q8_tile<1, 4>(t);
          case 2:
            return q8_tile<2, 4>(t);
          case 3:
            return q8_tile<3, 4>(t);
          default:
            return q8_tile<4, 4>(t);
        }
      },
      widen_f16);
}

// 24 independent chains (more than FMA latency × issue width on current cores).
RCC_AVX512 double fma_peak(int64_t iters) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.001f * float(j));  // distinct
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 24
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
  for (int j = 1; j < kChains; ++j) acc[0] = _mm512_add_ps(acc[0], acc[j]);  // every chain is used
  float out[16];
  _mm512_storeu_ps(out, acc[0]);
  volatile float sink = out[0];
  (void)sink;
  return 2.0 * kChains * 16 * double(iters);
}

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels k = [] {
    const CpuFeatures& f = cpu_features();
    Kernels t{Level::Avx512, "int8 (avx512 vnni)", rowwise_nt, gemm, nullptr, q8_rows, fma_peak};
    if (f.avx512_bf16) {
      t.rowwise_nt = rowwise_nt_bf16dp;
      t.gemm_bf16 = gemm_bf16;
    }
    if (!f.avx512_vnni) {
      t.q8_rows = avx2_kernels().q8_rows;
      t.q8_method = avx2_kernels().q8_method;
    }
    return t;
  }();
  return k;
}

}  // namespace rcc::kernels

#else

namespace rcc::kernels {
const Kernels& avx512_kernels() {
  return generic_kernels();
}
}  // namespace rcc::kernels

#endif
