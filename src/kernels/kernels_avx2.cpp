// The avx2 level (kernels.h): AVX2 + FMA + F16C, compiled for those instructions by function
// attributes whatever the build's -march, and run only where cpu_isa.h finds them.
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/gemm_driver.h"

#define RCC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace rcc::kernels {

namespace {

// 8 consecutive weights from element i as f32.
template <DType T>
RCC_AVX2 inline __m256 load_w(const void* W, int64_t i) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(W) + i);
  } else if constexpr (T == DType::BF16) {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(W) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(W) + i)));
  }
}

// (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)): a fixed tree.
RCC_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An MR × NR tile of dot products: rows xr[0..MR), weight rows at offsets wc[0..NR). Columns
// j >= cols repeat the last one (a short last tile) and are not written.
template <DType T, int MR, int NR>
RCC_AVX2 void tile_nt(int64_t K, float alpha, const float* const* xr, const int64_t* wc,
                      const void* W, float* const* yr, const int64_t* yc, int64_t cols,
                      bool accumulate) {
  __m256 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  const int64_t K8 = K / 8 * 8;
  for (int64_t k = 0; k < K8; k += 8) {
    __m256 w[NR];
    for (int j = 0; j < NR; ++j) w[j] = load_w<T>(W, wc[j] + k);
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_loadu_ps(xr[i] + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(xv, w[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR && j < cols; ++j) {
      float s = hsum(acc[i][j]);
      for (int64_t k = K8; k < K; ++k) s = std::fma(xr[i][k], weight_at(W, T, wc[j] + k), s);
      s *= alpha;
      float& out = yr[i][yc[j]];
      out = accumulate ? out + s : s;
    }
}

// Rows in tiles of up to 4, weight rows in tiles of 4 (≤ 2 rows) or 2: each weight row is read
// once per row tile, each element's order fixed by tile_nt.
template <DType T>
void rowwise_typed(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                   const void* W, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  const int nr = M <= 2 ? 4 : 2;
  for (int64_t n0 = 0; n0 < N;) {
    const int64_t cols = std::min<int64_t>(nr, N - n0);
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
      if (nr == 4) {
        if (rows == 1)
          tile_nt<T, 1, 4>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
        else
          tile_nt<T, 2, 4>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
      } else {
        switch (rows) {  // the exact row count: a repeated row would be accumulated twice
          case 1:
            tile_nt<T, 1, 2>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
            break;
          case 2:
            tile_nt<T, 2, 2>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
            break;
          case 3:
            tile_nt<T, 3, 2>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
            break;
          default:
            tile_nt<T, 4, 2>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
            break;
        }
      }
    }
    n0 += cols;
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

// 6 × 16 tiles: 12 accumulators, two B vectors, one broadcast A.
struct Micro {
  using Elem = float;
  static constexpr int MR = 6, NR = 16, P = 1;
  RCC_AVX2 static void run(int64_t kc, const float* A, const float* B, float* C, int64_t ldc,
                           float alpha, float beta, const float* bias) {
    __m256 c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, A += MR, B += NR) {
      const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 a = _mm256_broadcast_ss(A + i);
        c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
        c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
      }
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < MR; ++i)
      for (int h = 0; h < 2; ++h) {
        float* out = C + i * ldc + h * 8;
        __m256 r = _mm256_mul_ps(c[i][h], va);
        if (bias) r = _mm256_add_ps(r, _mm256_loadu_ps(bias + h * 8));
        if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_loadu_ps(out), vb, r);
        _mm256_storeu_ps(out, r);
      }
  }
};

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs, int64_t a_cs,
          const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta, float* C, int64_t ldc,
          const float* bias) {
  detail::PackedGemm<Micro>::run(M, N, K, alpha, A, a_rs, a_cs, B, bt, b_rs, b_cs, beta, C, ldc,
                                 bias);
}

// Eight int32 lanes of one block (common.h): u8 × s8 pairs (|w|, sign(x, w)) summed in int16
// (|products| ≤ 127·127·2, no saturation), then pairs of int16 in int32.
RCC_AVX2 inline __m256i block_dot(__m256i w, __m256i x) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

template <int MR, int NR>
RCC_AVX2 void q8_tile(const Q8Tile& t) {
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
    for (int j = 0; j < NR; ++j)
      w[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[j] + b * kQ8Block));
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
      const float v = hsum(acc[i][j]);
      t.yr[i][j] = t.accumulate ? t.yr[i][j] + v : v;
    }
}

// n f16 scales to f32, 8 at a time (F16C).
RCC_AVX2 void widen_f16c(const uint16_t* d, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i))));
  for (; i < n; ++i) out[i] = f16_to_f32(d[i]);
}

void q8_rows(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const int8_t* q,
             const uint16_t* d, float* y, int64_t ldy, bool accumulate, int8_t* xq, float* xd) {
  q8_rows_tiled<2>(
      M, N, K, x, ldx, q, d, y, ldy, accumulate, xq, xd,
      [](const Q8Tile& t) {
        switch (t.rows) {  // the exact row count: a repeated row would be accumulated twice
          case 1:
            return q8_tile<1, 4>(t);
          default:
            return q8_tile<2, 4>(t);
        }
      },
      widen_f16c);
}

// 12 independent chains (more than FMA latency × issue width on current cores).
RCC_AVX2 double fma_peak(int64_t iters) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j)
    acc[j] = _mm256_set1_ps(1.0f + 0.001f * float(j));  // distinct chains
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
  float out[8];
  for (int j = 1; j < 12; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);  // every chain is used
  _mm256_storeu_ps(out, acc[0]);
  volatile float sink = out[0];
  (void)sink;
  return 2.0 * 12 * 8 * double(iters);
}

}  // namespace

const Kernels& avx2_kernels() {
  static const Kernels k{Level::Avx2, "int8 (avx2 maddubs)", rowwise_nt, gemm, nullptr, q8_rows,
                         fma_peak};
  return k;
}

}  // namespace rcc::kernels

#else  // not x86-64: the level is never chosen (cpu_isa.h), its table is the generic one

namespace rcc::kernels {
const Kernels& avx2_kernels() {
  return generic_kernels();
}
}  // namespace rcc::kernels

#endif
