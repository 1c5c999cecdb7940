#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "ops/rowwise_gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define RCC_ROWWISE_AVX2 1
#endif

namespace rcc::ops {

namespace {

// One weight element as f32.
inline float weight_at(const void* W, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(W)[i];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(W)[i]);
    default:
      return f16_to_f32(static_cast<const uint16_t*>(W)[i]);
  }
}

#ifdef RCC_ROWWISE_AVX2
// 8 consecutive weights from element i as f32.
template <DType T>
inline __m256 load_w(const void* W, int64_t i) {
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
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An MR × NR tile of dot products: rows r[0..MR), weight rows c[0..NR).
// Columns j >= cols repeat the last one (a short last tile) and are not written.
template <DType T, int MR, int NR>
void tile_nt(int64_t K, float alpha, const float* const* xr, const int64_t* wc, const void* W,
             float* const* yr, const int64_t* yc, int64_t cols, bool accumulate) {
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

template <DType T>
void gemm_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
             const void* W, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  // Column tiles outermost: a tile's weight rows stay in cache across every row tile.
  constexpr int NR_SMALL = 4, NR_LARGE = 2, MR = 4;
  for (int64_t n0 = 0; n0 < N;) {
    const int nr = M <= 2 ? NR_SMALL : NR_LARGE;
    const int64_t cols = std::min<int64_t>(nr, N - n0);
    int64_t wc[4], yc[4];
    for (int j = 0; j < 4; ++j) {  // a short last tile repeats its last column (discarded)
      const int64_t n = n0 + std::min<int64_t>(j, cols - 1);
      wc[j] = n * ldw;
      yc[j] = n;
    }
    for (int64_t r0 = 0; r0 < M; r0 += MR) {
      const int64_t rows = std::min<int64_t>(MR, M - r0);
      const float* xr[MR];
      float* yr[MR];
      for (int i = 0; i < MR; ++i) {
        xr[i] = x + (r0 + std::min<int64_t>(i, rows - 1)) * ldx;
        yr[i] = y + (r0 + std::min<int64_t>(i, rows - 1)) * ldy;
      }
      // The tile's row count is exact (templates for 1..4 rows).
      auto run = [&](auto mr, auto ncols) {
        constexpr int kM = decltype(mr)::value, kN = decltype(ncols)::value;
        tile_nt<T, kM, kN>(K, alpha, xr, wc, W, yr, yc, cols, accumulate);
      };
      using I1 = std::integral_constant<int, 1>;
      using I2 = std::integral_constant<int, 2>;
      using I3 = std::integral_constant<int, 3>;
      using I4 = std::integral_constant<int, 4>;
      if (nr == 4) {
        if (rows == 1)
          run(I1{}, I4{});
        else
          run(I2{}, I4{});  // M <= 2
      } else {
        switch (rows) {
          case 1:
            run(I1{}, I2{});
            break;
          case 2:
            run(I2{}, I2{});
            break;
          case 3:
            run(I3{}, I2{});
            break;
          default:
            run(I4{}, I2{});
            break;
        }
      }
    }
    n0 += cols;
  }
}
#endif

}  // namespace

void rowwise_gemm_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                     const void* W, DType wtype, int64_t ldw, float* y, int64_t ldy,
                     bool accumulate) {
  RCC_CHECK(wtype == DType::F32 || wtype == DType::BF16 || wtype == DType::F16,
            "rowwise_gemm_nt: unsupported weight dtype ", dtype_name(wtype));
  if (M <= 0 || N <= 0) return;
#ifdef RCC_ROWWISE_AVX2
  switch (wtype) {
    case DType::F32:
      return gemm_nt<DType::F32>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
    case DType::BF16:
      return gemm_nt<DType::BF16>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
    default:
      return gemm_nt<DType::F16>(M, N, K, alpha, x, ldx, W, ldw, y, ldy, accumulate);
  }
#else
  // The same order without vectors: 8 lane sums, the same tree, then the tail.
  for (int64_t r = 0; r < M; ++r)
    for (int64_t n = 0; n < N; ++n) {
      float lane[8] = {};
      const int64_t K8 = K / 8 * 8;
      for (int64_t k = 0; k < K8; k += 8)
        for (int i = 0; i < 8; ++i)
          lane[i] = std::fma(x[r * ldx + k + i], weight_at(W, wtype, n * ldw + k + i), lane[i]);
      float a[4];
      for (int i = 0; i < 4; ++i) a[i] = lane[i] + lane[i + 4];
      float s = (a[0] + a[2]) + (a[1] + a[3]);
      for (int64_t k = K8; k < K; ++k)
        s = std::fma(x[r * ldx + k], weight_at(W, wtype, n * ldw + k), s);
      s *= alpha;
      y[r * ldy + n] = accumulate ? y[r * ldy + n] + s : s;
    }
#endif
}

void rowwise_gemm_nn(int64_t M, int64_t D, int64_t J, const float* p, int64_t ldp, const float* V,
                     int64_t ldv, float* y, int64_t ldy, bool accumulate) {
  if (M <= 0 || D <= 0) return;
  constexpr int MR = 4;
  int64_t d0 = 0;
#ifdef RCC_ROWWISE_AVX2
  // 16 output columns of up to 4 rows at a time: each V row loaded once for the tile.
  for (; d0 + 16 <= D; d0 += 16)
    for (int64_t r0 = 0; r0 < M; r0 += MR) {
      const int rows = int(std::min<int64_t>(MR, M - r0));
      __m256 acc[MR][2];
      for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
      for (int64_t j = 0; j < J; ++j) {
        const __m256 v0 = _mm256_loadu_ps(V + j * ldv + d0);
        const __m256 v1 = _mm256_loadu_ps(V + j * ldv + d0 + 8);
        for (int i = 0; i < rows; ++i) {
          const __m256 pv = _mm256_broadcast_ss(p + (r0 + i) * ldp + j);
          acc[i][0] = _mm256_fmadd_ps(pv, v0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(pv, v1, acc[i][1]);
        }
      }
      for (int i = 0; i < rows; ++i) {
        float* out = y + (r0 + i) * ldy + d0;
        if (accumulate) {
          acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(out), acc[i][0]);
          acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(out + 8), acc[i][1]);
        }
        _mm256_storeu_ps(out, acc[i][0]);
        _mm256_storeu_ps(out + 8, acc[i][1]);
      }
    }
#endif
  // The remaining columns: one accumulator per element, over j in order.
  for (int64_t r = 0; r < M; ++r)
    for (int64_t d = d0; d < D; ++d) {
      float s = 0.0f;
      for (int64_t j = 0; j < J; ++j) s = std::fma(p[r * ldp + j], V[j * ldv + d], s);
      y[r * ldy + d] = accumulate ? y[r * ldy + d] + s : s;
    }
}

}  // namespace rcc::ops
