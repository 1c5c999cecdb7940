// The row-independent matrix kernels (ops/rowwise_gemm.h) against a double-precision reference
// (relative 1e-5 of the row's magnitude: f32 accumulation over K <= 300 terms), and their contract:
// a row's result has the same bits whatever the number of rows beside it.
#include "ops/rowwise_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace rcc::ops {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

TEST(RowwiseGemm, NtMatchesReferenceAndIsRowIndependent) {
  for (DType t : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t K : {1, 7, 8, 64, 131, 300}) {
      const int64_t M = 37, N = 11;
      const std::vector<float> x = randn(size_t(M * K), 1), wf = randn(size_t(N * K), 2);
      std::vector<uint16_t> w16(wf.size());
      for (size_t i = 0; i < wf.size(); ++i)
        w16[i] = t == DType::BF16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
      const void* W = t == DType::F32 ? static_cast<const void*>(wf.data()) : w16.data();
      auto wv = [&](int64_t i) {
        return t == DType::F32    ? wf[size_t(i)]
               : t == DType::BF16 ? bf16_to_f32(w16[size_t(i)])
                                  : f16_to_f32(w16[size_t(i)]);
      };
      std::vector<float> all(size_t(M * N), 1.0f);
      rowwise_gemm_nt(M, N, K, 0.5f, x.data(), K, W, t, K, all.data(), N, /*accumulate=*/true);
      for (int64_t r = 0; r < M; ++r) {
        std::vector<float> one(size_t(N), 1.0f);
        rowwise_gemm_nt(1, N, K, 0.5f, x.data() + r * K, K, W, t, K, one.data(), N, true);
        ASSERT_EQ(std::memcmp(one.data(), all.data() + r * N, size_t(N) * 4), 0)
            << dtype_name(t) << " K=" << K << " row " << r;
        for (int64_t n = 0; n < N; ++n) {
          double ref = 0, mag = 0;
          for (int64_t k = 0; k < K; ++k) {
            ref += double(x[size_t(r * K + k)]) * wv(n * K + k);
            mag += std::fabs(double(x[size_t(r * K + k)]) * wv(n * K + k));
          }
          EXPECT_NEAR(all[size_t(r * N + n)], 1.0 + 0.5 * ref, 1e-5 * (1.0 + mag))
              << dtype_name(t) << " K=" << K;
        }
      }
    }
  }
}

TEST(RowwiseGemm, NnMatchesReferenceAndIsRowIndependent) {
  for (int64_t D : {5, 16, 64, 70}) {
    const int64_t M = 9, J = 53;
    const std::vector<float> p = randn(size_t(M * J), 3), V = randn(size_t(J * D), 4);
    std::vector<float> all(size_t(M * D));
    rowwise_gemm_nn(M, D, J, p.data(), J, V.data(), D, all.data(), D, false);
    for (int64_t r = 0; r < M; ++r) {
      std::vector<float> one(static_cast<size_t>(D));
      rowwise_gemm_nn(1, D, J, p.data() + r * J, J, V.data(), D, one.data(), D, false);
      ASSERT_EQ(std::memcmp(one.data(), all.data() + r * D, size_t(D) * 4), 0)
          << "D=" << D << " row " << r;
      for (int64_t d = 0; d < D; ++d) {
        double ref = 0, mag = 0;
        for (int64_t j = 0; j < J; ++j) {
          ref += double(p[size_t(r * J + j)]) * V[size_t(j * D + d)];
          mag += std::fabs(double(p[size_t(r * J + j)]) * V[size_t(j * D + d)]);
        }
        EXPECT_NEAR(all[size_t(r * D + d)], ref, 1e-5 * (1.0 + mag)) << "D=" << D;
      }
    }
  }
}

}  // namespace
}  // namespace rcc::ops
