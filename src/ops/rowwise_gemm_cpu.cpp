#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/kernels.h"
#include "ops/rowwise_gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define RCC_ROWWISE_AVX2 1
#endif

namespace rcc::ops {

void rowwise_gemm_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                     const void* W, DType wtype, int64_t ldw, float* y, int64_t ldy,
                     bool accumulate) {
  RCC_CHECK(wtype == DType::F32 || wtype == DType::BF16 || wtype == DType::F16,
            "rowwise_gemm_nt: unsupported weight dtype ", dtype_name(wtype));
  if (M <= 0 || N <= 0) return;
  kernels::kernels().rowwise_nt(M, N, K, alpha, x, ldx, W, wtype, ldw, y, ldy, accumulate);
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
