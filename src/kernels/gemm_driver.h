// The packed GEMM of kernels.h (Gemm), for any level's micro-kernel: Goto/BLIS blocking — a
// KC × NC block of B packed into NR-wide panels (converted to f32 on the way), an MC × KC block
// of A into MR-tall panels, then MR × NR tiles of C by the level's micro-kernel. Included only by
// the kernels_*.cpp files; everything is a template of the micro-kernel type, so each level's copy
// is its own symbol.
//
// Micro must provide: static constexpr int MR, NR, and
//   static void run(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
//                   float alpha, float beta);
// computing C[MR, NR] = alpha · Σ_k Ap[k·MR + i] · Bp[k·NR + j] + beta · C (beta 0: C not read).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace rcc::kernels::detail {

template <class Micro>
struct PackedGemm {
  static constexpr int MR = Micro::MR, NR = Micro::NR;
  static constexpr int64_t KC = 256, MC = MR * 8, NC = NR * 96;

  // Bp[panel][k][NR] for columns [n0, n0 + nc) and depths [k0, k0 + kc); short panels padded
  // with zeros.
  static void pack_b(const void* B, DType bt, int64_t b_rs, int64_t b_cs, int64_t k0, int64_t kc,
                     int64_t n0, int64_t nc, float* Bp) {
    for (int64_t p = 0; p < nc; p += NR) {
      float* dst = Bp + p * kc;
      const int64_t w = std::min<int64_t>(NR, nc - p);
      for (int64_t j = 0; j < NR; ++j) {
        if (j >= w) {
          for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.0f;
          continue;
        }
        const int64_t base = (n0 + p + j) * b_cs + k0 * b_rs;
        switch (bt) {
          case DType::F32: {
            const float* s = static_cast<const float*>(B) + base;
            for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = s[k * b_rs];
            break;
          }
          case DType::BF16: {
            const uint16_t* s = static_cast<const uint16_t*>(B) + base;
            for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = bf16_to_f32(s[k * b_rs]);
            break;
          }
          default: {
            const uint16_t* s = static_cast<const uint16_t*>(B) + base;
            for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = f16_to_f32(s[k * b_rs]);
            break;
          }
        }
      }
    }
  }

  // Ap[panel][k][MR] for rows [i0, i0 + mc); short panels padded with zeros.
  static void pack_a(const float* A, int64_t a_rs, int64_t a_cs, int64_t i0, int64_t mc,
                     int64_t k0, int64_t kc, float* Ap) {
    for (int64_t p = 0; p < mc; p += MR) {
      float* dst = Ap + p * kc;
      const int64_t h = std::min<int64_t>(MR, mc - p);
      for (int64_t i = 0; i < MR; ++i) {
        if (i >= h) {
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = 0.0f;
          continue;
        }
        const float* s = A + (i0 + p + i) * a_rs + k0 * a_cs;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = s[k * a_cs];
      }
    }
  }

  // A few rows against f32 B (attention while decoding): packing would cost more than the
  // product, so B is read in place — dot products when B(k, n) is contiguous along k, row
  // updates (C[i, :] += A(i, k) · B[k, :]) when contiguous along n.
  static constexpr int64_t kSmallRows = 4;
  static void small_m(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs,
                      int64_t a_cs, const float* B, int64_t b_rs, int64_t b_cs, float beta,
                      float* C, int64_t ldc) {
    thread_local std::vector<float> arow;
    if (int64_t(arow.size()) < K) arow.resize(size_t(K));
    for (int64_t i = 0; i < M; ++i) {
      float* a = arow.data();
      for (int64_t k = 0; k < K; ++k) a[k] = A[i * a_rs + k * a_cs];
      float* c = C + i * ldc;
      if (b_rs == 1) {
        for (int64_t n = 0; n < N; ++n) {
          const float* b = B + n * b_cs;
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (int64_t k = 0; k < K; ++k) s += a[k] * b[k];
          c[n] = beta == 0.0f ? alpha * s : alpha * s + beta * c[n];
        }
      } else {
        if (beta == 0.0f)
          std::fill(c, c + N, 0.0f);
        else if (beta != 1.0f)
          for (int64_t n = 0; n < N; ++n) c[n] *= beta;
        for (int64_t k = 0; k < K; ++k) {
          const float f = alpha * a[k];
          const float* b = B + k * b_rs;
#pragma omp simd
          for (int64_t n = 0; n < N; ++n) c[n] += f * b[n];
        }
      }
    }
  }

  static void run(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs,
                  int64_t a_cs, const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta,
                  float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      return;
    }
    if (M <= kSmallRows && bt == DType::F32 && (b_rs == 1 || b_cs == 1)) {
      small_m(M, N, K, alpha, A, a_rs, a_cs, static_cast<const float*>(B), b_rs, b_cs, beta, C, ldc);
      return;
    }
    // Per-thread buffers, grown once and kept: no allocation per call.
    thread_local std::vector<float> a_buf, b_buf;
    const int64_t nc_max = std::min<int64_t>(NC, (N + NR - 1) / NR * NR);
    const int64_t mc_max = std::min<int64_t>(MC, (M + MR - 1) / MR * MR);
    const int64_t kc_max = std::min<int64_t>(KC, K);
    if (int64_t(b_buf.size()) < kc_max * nc_max) b_buf.resize(size_t(kc_max * nc_max));
    if (int64_t(a_buf.size()) < kc_max * mc_max) a_buf.resize(size_t(kc_max * mc_max));
    alignas(64) float tile[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc);
      for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = std::min(KC, K - pc);
        const float beta_k = pc == 0 ? beta : 1.0f;
        pack_b(B, bt, b_rs, b_cs, pc, kc, jc, nc, b_buf.data());
        for (int64_t ic = 0; ic < M; ic += MC) {
          const int64_t mc = std::min(MC, M - ic);
          pack_a(A, a_rs, a_cs, ic, mc, pc, kc, a_buf.data());
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t nr = std::min<int64_t>(NR, nc - jr);
            const float* bp = b_buf.data() + jr * kc;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int64_t mr = std::min<int64_t>(MR, mc - ir);
              const float* ap = a_buf.data() + ir * kc;
              float* c = C + (ic + ir) * ldc + jc + jr;
              if (mr == MR && nr == NR) {
                Micro::run(kc, ap, bp, c, ldc, alpha, beta_k);
                continue;
              }
              // A short tile: computed whole into `tile`, its valid part merged into C.
              Micro::run(kc, ap, bp, tile, NR, alpha, 0.0f);
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) {
                  float& out = c[i * ldc + j];
                  out = beta_k == 0.0f ? tile[i * NR + j] : tile[i * NR + j] + beta_k * out;
                }
            }
          }
        }
      }
    }
  }
};

}  // namespace rcc::kernels::detail
