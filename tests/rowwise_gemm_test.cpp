// The row-independent P·V kernel (ops/rowwise_gemm.h) against a double-precision reference
// (relative 1e-5 of the row's magnitude: f32 accumulation over K <= 300 terms), and its contract:
// a row's result has the same bits whatever the number of rows beside it. The x·Wᵀ kernel of every
// CPU level is checked the same way in cpu_kernels_test.cpp.
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
