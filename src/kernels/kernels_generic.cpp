// The generic level (kernels.h): portable C++, the same summation orders as the vector levels
// where the contracts fix them (rowwise_nt: 8 lanes; q8_rows: common.h).
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/gemm_driver.h"
#include "kernels/kernels.h"

namespace rcc::kernels {

namespace {

// 8 lane sums over k ≡ lane (mod 8), the fixed tree, then the tail in order (ops/rowwise_gemm.h).
void rowwise_nt(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx,
                const void* W, DType wt, int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  const int64_t K8 = K / 8 * 8;
  for (int64_t r = 0; r < M; ++r)
    for (int64_t n = 0; n < N; ++n) {
      float lane[8] = {};
      for (int64_t k = 0; k < K8; k += 8)
        for (int i = 0; i < 8; ++i)
          lane[i] = std::fma(x[r * ldx + k + i], weight_at(W, wt, n * ldw + k + i), lane[i]);
      float a[4];
      for (int i = 0; i < 4; ++i) a[i] = lane[i] + lane[i + 4];
      float s = (a[0] + a[2]) + (a[1] + a[3]);
      for (int64_t k = K8; k < K; ++k)
        s = std::fma(x[r * ldx + k], weight_at(W, wt, n * ldw + k), s);
      s *= alpha;
      y[r * ldy + n] = accumulate ? y[r * ldy + n] + s : s;
    }
}

struct Micro {
  using Elem = float;
  static constexpr int MR = 4, NR = 8, P = 1;
  static void run(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, float alpha,
                  float beta, const float* bias) {
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; ++k, A += MR, B += NR)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] += A[i] * B[j];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) {
        float& c = C[i * ldc + j];
        const float v = alpha * acc[i][j] + (bias ? bias[j] : 0.0f);
        c = beta == 0.0f ? v : v + beta * c;
      }
  }
};

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t a_rs, int64_t a_cs,
          const void* B, DType bt, int64_t b_rs, int64_t b_cs, float beta, float* C, int64_t ldc,
          const float* bias) {
  detail::PackedGemm<Micro>::run(M, N, K, alpha, A, a_rs, a_cs, B, bt, b_rs, b_cs, beta, C, ldc,
                                 bias);
}

void q8_rows(int64_t M, int64_t N, int64_t K, const float* x, int64_t ldx, const int8_t* q,
             const uint16_t* d, float* y, int64_t ldy, bool accumulate, int8_t* xq, float* xd) {
  const int64_t blocks = K / kQ8Block;
  quantize_rows_q8(M, K, x, ldx, xq, xd);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t n = 0; n < N; ++n) {
      float lane[8] = {};
      for (int64_t b = 0; b < blocks; ++b) {
        const int8_t* w = q + n * K + b * kQ8Block;
        const int8_t* a = xq + r * K + b * kQ8Block;
        const float s = f16_to_f32(d[n * blocks + b]) * xd[r * blocks + b];
        for (int l = 0; l < 8; ++l) {
          int32_t dot = 0;
          for (int i = 0; i < 4; ++i) dot += int32_t(a[l * 4 + i]) * int32_t(w[l * 4 + i]);
          lane[l] = std::fma(float(dot), s, lane[l]);
        }
      }
      const float v =
          ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
      y[r * ldy + n] = accumulate ? y[r * ldy + n] + v : v;
    }
}

double fma_peak(int64_t iters) {
  float a[8] = {1.0f, 1.001f, 1.002f, 1.003f, 1.004f, 1.005f, 1.006f, 1.007f};
  const float m = 0.999999f, c = 1e-7f;
  for (int64_t i = 0; i < iters; ++i)
    for (float& v : a) v = std::fma(v, m, c);
  volatile float sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  (void)sink;
  return 2.0 * 8 * double(iters);
}

}  // namespace

const Kernels& generic_kernels() {
  static const Kernels k{Level::Generic, "int8 (scalar)", rowwise_nt, gemm,
                         nullptr,        q8_rows,         fma_peak};
  return k;
}

}  // namespace rcc::kernels
