// The packed GEMM of kernels.h (Gemm), for any level's micro-kernel: Goto/BLIS blocking — a
// KC × NC block of B packed into NR-wide panels, an MC × KC block of A into MR-tall panels, then
// MR × NR tiles of C by the level's micro-kernel. Included only by the kernels_*.cpp files;
// everything is a template of the micro-kernel type, so each level's copy is its own symbol.
//
// Micro must provide: static constexpr int MR, NR, P; a type Elem (what panels hold: float with
// P = 1, or uint16_t bf16 with P = 2 for pair dot products); and
//   static void run(int64_t kp, const Elem* Ap, const Elem* Bp, float* C, int64_t ldc,
//                   float alpha, float beta, const float* bias);
// computing C[MR, NR] = alpha · Σ_k A(i, k) · B(k, j) + beta · C (+ bias[j] where bias is not
// null; beta 0: C not read) over kp
// groups of P depths, where group g holds A(i, gP + p) at Ap[(g·MR + i)·P + p] and B(gP + p, j)
// at Bp[(g·NR + j)·P + p]. Depths past K are packed as zeros. Optionally
//   static int64_t pack_bf16_panel(const uint16_t* rows, int64_t row_stride, int64_t kc, Elem* Bp);
// packs the leading depths of NR contiguous bf16 rows into one panel and returns how many it did.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/dtype.h"

namespace rcc::kernels::detail {

template <class Micro>
struct PackedGemm {
  using Elem = typename Micro::Elem;
  static constexpr int MR = Micro::MR, NR = Micro::NR, P = Micro::P;
  static constexpr int64_t KC = 256, MC = MR * 8, NC = NR * 96;

  static Elem to_elem(float v) {
    if constexpr (std::is_same_v<Elem, float>)
      return v;
    else
      return f32_to_bf16(v);
  }

  // One B column's depths [0, kc) (B(k, ·) at src[k · b_rs], cvt(value) its f32) into panel
  // column j, zero past kc. `raw_bf16`: the source is bf16 and the panel holds bf16 — contiguous
  // pairs are copied as they are.
  template <class Src, class Cvt>
  static void pack_column(const Src* src, int64_t b_rs, int64_t kc, int64_t kcp, int64_t j,
                          Elem* dst, Cvt cvt, bool raw_bf16) {
    int64_t k = 0;
    if constexpr (P == 2 && std::is_same_v<Src, uint16_t> && std::is_same_v<Elem, uint16_t>) {
      if (raw_bf16 && b_rs == 1)
        for (; k + 2 <= kc; k += 2) std::memcpy(dst + (k / 2 * NR + j) * 2, src + k, 4);
    }
    for (; k < kc; ++k) dst[(k / P * NR + j) * P + k % P] = to_elem(cvt(src[k * b_rs]));
    for (k = kc; k < kcp; ++k) dst[(k / P * NR + j) * P + k % P] = Elem(0);
  }

  // Depths [from, kcp) of panel column j from a contiguous bf16 row (zero past kc).
  static void pack_tail(const uint16_t* src, int64_t from, int64_t kc, int64_t kcp, int64_t j,
                        Elem* dst) {
    for (int64_t k = from; k < kcp; ++k)
      dst[(k / P * NR + j) * P + k % P] = k < kc ? to_elem(bf16_to_f32(src[k])) : Elem(0);
  }

  // Panels of B for columns [n0, n0 + nc), depths [k0, k0 + kc); kcp = kc rounded up to P.
  static void pack_b(const void* B, DType bt, int64_t b_rs, int64_t b_cs, int64_t k0, int64_t kc,
                     int64_t n0, int64_t nc, Elem* Bp) {
    const int64_t kcp = (kc + P - 1) / P * P;
    for (int64_t p = 0; p < nc; p += NR) {
      Elem* dst = Bp + p * kcp;
      const int64_t w = std::min<int64_t>(NR, nc - p);
      for (int64_t j = 0; j < NR; ++j) {
        if (j >= w) {
          for (int64_t k = 0; k < kcp; ++k) dst[(k / P * NR + j) * P + k % P] = Elem(0);
          continue;
        }
        const int64_t base = (n0 + p + j) * b_cs + k0 * b_rs;
        if constexpr (requires { Micro::pack_bf16_panel; }) {
          // A whole panel of contiguous bf16 rows: the micro-kernel's own transposing copy for the
          // leading depths, the rest below.
          if (j == 0 && w == NR && bt == DType::BF16 && b_rs == 1) {
            const int64_t done =
                Micro::pack_bf16_panel(static_cast<const uint16_t*>(B) + base, b_cs, kc, dst);
            for (int64_t jj = 0; jj < NR; ++jj)
              pack_tail(static_cast<const uint16_t*>(B) + (n0 + p + jj) * b_cs + k0, done, kc, kcp,
                        jj, dst);
            break;
          }
        }
        switch (bt) {
          case DType::F32:
            pack_column(
                static_cast<const float*>(B) + base, b_rs, kc, kcp, j, dst,
                [](float v) { return v; }, false);
            break;
          case DType::BF16:
            pack_column(static_cast<const uint16_t*>(B) + base, b_rs, kc, kcp, j, dst, &bf16_to_f32,
                        true);
            break;
          default:
            pack_column(static_cast<const uint16_t*>(B) + base, b_rs, kc, kcp, j, dst, &f16_to_f32,
                        false);
            break;
        }
      }
    }
  }

  // Panels of A for rows [i0, i0 + mc), depths [k0, k0 + kc).
  static void pack_a(const float* A, int64_t a_rs, int64_t a_cs, int64_t i0, int64_t mc, int64_t k0,
                     int64_t kc, Elem* Ap) {
    const int64_t kcp = (kc + P - 1) / P * P;
    thread_local std::vector<Elem> row;
    if (int64_t(row.size()) < kcp) row.resize(size_t(kcp));
    for (int64_t p = 0; p < mc; p += MR) {
      Elem* dst = Ap + p * kcp;
      const int64_t h = std::min<int64_t>(MR, mc - p);
      for (int64_t i = 0; i < MR; ++i) {
        // The row's depths converted first (a loop the compiler vectorizes), then interleaved.
        if (i < h) {
          const float* s = A + (i0 + p + i) * a_rs + k0 * a_cs;
          for (int64_t k = 0; k < kc; ++k) row[size_t(k)] = to_elem(s[k * a_cs]);
          for (int64_t k = kc; k < kcp; ++k) row[size_t(k)] = Elem(0);
        } else {
          std::fill(row.begin(), row.begin() + kcp, Elem(0));
        }
        if constexpr (P == 1) {
          for (int64_t k = 0; k < kcp; ++k) dst[k * MR + i] = row[size_t(k)];
        } else {
          for (int64_t g = 0; g < kcp / 2; ++g)
            std::memcpy(dst + (g * MR + i) * 2, &row[size_t(2 * g)], 4);
        }
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
                  float* C, int64_t ldc, const float* bias) {
    if (M <= 0 || N <= 0) return;
    auto add_bias = [&] {
      if (bias)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += bias[j];
    };
    if (K <= 0) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
          C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      return add_bias();
    }
    if (M <= kSmallRows && bt == DType::F32 && (b_rs == 1 || b_cs == 1)) {
      small_m(M, N, K, alpha, A, a_rs, a_cs, static_cast<const float*>(B), b_rs, b_cs, beta, C,
              ldc);
      return add_bias();
    }
    // Per-thread buffers, grown once and kept: no allocation per call.
    thread_local std::vector<Elem> a_buf, b_buf;
    const int64_t nc_max = std::min<int64_t>(NC, (N + NR - 1) / NR * NR);
    const int64_t mc_max = std::min<int64_t>(MC, (M + MR - 1) / MR * MR);
    const int64_t kc_max = (std::min<int64_t>(KC, K) + P - 1) / P * P;
    if (int64_t(b_buf.size()) < kc_max * nc_max) b_buf.resize(size_t(kc_max * nc_max));
    if (int64_t(a_buf.size()) < kc_max * mc_max) a_buf.resize(size_t(kc_max * mc_max));
    alignas(64) float tile[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc);
      for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = std::min(KC, K - pc), kcp = (kc + P - 1) / P * P;
        const float beta_k = pc == 0 ? beta : 1.0f;
        const float* bias_k = pc == 0 ? bias : nullptr;  // added once, with the first depths
        pack_b(B, bt, b_rs, b_cs, pc, kc, jc, nc, b_buf.data());
        for (int64_t ic = 0; ic < M; ic += MC) {
          const int64_t mc = std::min(MC, M - ic);
          pack_a(A, a_rs, a_cs, ic, mc, pc, kc, a_buf.data());
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t nr = std::min<int64_t>(NR, nc - jr);
            const Elem* bp = b_buf.data() + jr * kcp;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int64_t mr = std::min<int64_t>(MR, mc - ir);
              const Elem* ap = a_buf.data() + ir * kcp;
              float* c = C + (ic + ir) * ldc + jc + jr;
              const float* bj = bias_k ? bias_k + jc + jr : nullptr;
              if (mr == MR && nr == NR) {
                Micro::run(kcp / P, ap, bp, c, ldc, alpha, beta_k, bj);
                continue;
              }
              // A short tile: computed whole into `tile`, its valid part merged into C.
              Micro::run(kcp / P, ap, bp, tile, NR, alpha, 0.0f, nullptr);
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) {
                  float& out = c[i * ldc + j];
                  const float v = tile[i * NR + j] + (bj ? bj[j] : 0.0f);
                  out = beta_k == 0.0f ? v : v + beta_k * out;
                }
            }
          }
        }
      }
    }
  }
};

}  // namespace rcc::kernels::detail
