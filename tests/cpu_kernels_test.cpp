// The CPU kernels of every level this machine runs (kernels/kernels.h), each against a
// double-precision reference, and the choice of level. The level in use is printed (and recorded
// as the test property "cpu_kernels") so that a log states which path ran; every level up to the
// best one is exercised whatever is in use.
//
// Tolerances: f32 accumulation of K ≤ 300 products: 1e-5 of Σ|x·w| (the bf16 dot-product path keeps
// 16 significant bits of x: ≤ 2^-17 of each product, inside the same bound). The packed GEMM: 2e-5
// of Σ|a·b| (K up to 600, other blocking). Int8: the integer dot products are exact, so every level
// gives the same bits (memcmp), and the result equals the double evaluation of the same quantized
// values within 1e-6 of its magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/common.h"
#include "kernels/kernels.h"

namespace rcc::kernels {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = scale * d(g);
  return v;
}

std::vector<Level> levels() {
  std::vector<Level> l;
  for (int i = 0; i <= int(best_level()); ++i) l.push_back(Level(i));
  return l;
}

TEST(CpuKernels, ReportsTheLevelInUse) {
  const std::string d = describe_kernels();
  std::printf("CPU kernels in use: %s (best on this machine: %s)\n", d.c_str(),
              level_name(best_level()));
  ::testing::Test::RecordProperty("cpu_kernels", d);
  EXPECT_EQ(d.rfind(level_name(kernels().level), 0), 0u) << d;
  EXPECT_LE(kernels().level, best_level());
#if defined(__x86_64__)
  // The binary targets x86-64-v3: a machine that runs it has AVX2.
  EXPECT_TRUE(cpu_features().avx2);
  EXPECT_GE(best_level(), Level::Avx2);
#endif
}

TEST(CpuKernels, UseLevelSwitchesAndRefusesMoreThanTheCpuHas) {
  const Level before = kernels().level;
  for (Level l : levels()) {
    use_level(l);
    EXPECT_EQ(kernels().level, l);
  }
  use_level(before);
  if (best_level() != Level::Avx512) {
    EXPECT_THROW(kernels_at(Level::Avx512), Error);
  }
}

TEST(CpuKernels, RowwiseMatchesReferenceAndIsRowIndependent) {
  for (Level lv : levels()) {
    const Kernels& k = kernels_at(lv);
    for (DType t : {DType::F32, DType::BF16, DType::F16}) {
      for (int64_t K : {1, 15, 16, 33, 64, 131, 300}) {
        const int64_t M = 9, N = 13;
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
        k.rowwise_nt(M, N, K, 0.5f, x.data(), K, W, t, K, all.data(), N, true);
        for (int64_t r = 0; r < M; ++r) {
          std::vector<float> one(size_t(N), 1.0f);
          k.rowwise_nt(1, N, K, 0.5f, x.data() + r * K, K, W, t, K, one.data(), N, true);
          ASSERT_EQ(std::memcmp(one.data(), all.data() + r * N, size_t(N) * 4), 0)
              << level_name(lv) << " " << dtype_name(t) << " K=" << K << " row " << r;
          for (int64_t n = 0; n < N; ++n) {
            double ref = 0, mag = 0;
            for (int64_t kk = 0; kk < K; ++kk) {
              const double p = double(x[size_t(r * K + kk)]) * wv(n * K + kk);
              ref += p;
              mag += std::fabs(p);
            }
            EXPECT_NEAR(all[size_t(r * N + n)], 1.0 + 0.5 * ref, 1e-5 * (1.0 + mag))
                << level_name(lv) << " " << dtype_name(t) << " K=" << K;
          }
        }
      }
    }
  }
}

// C = alpha · A · B + beta · C + bias for B given as W [N, K] (x·Wᵀ) and as V [K, N] (P·V), A plain
// or transposed, every tail of the micro-tiles and the blocking (K 600 > KC 256).
TEST(CpuKernels, PackedGemmMatchesReference) {
  struct Case {
    int64_t M, N, K;
  };
  for (Level lv : levels()) {
    const Kernels& k = kernels_at(lv);
    for (const Case c :
         {Case{1, 1, 1}, Case{5, 3, 7}, Case{13, 33, 64}, Case{37, 70, 600}, Case{100, 17, 300}}) {
      for (DType t : {DType::F32, DType::BF16}) {
        for (int form = 0; form < 3; ++form) {  // 0: x·Wᵀ, 1: P·V, 2: Aᵀ·V
          const std::vector<float> a = randn(size_t(c.M * c.K), 3),
                                   bf = randn(size_t(c.K * c.N), 4);
          std::vector<uint16_t> b16(bf.size());
          for (size_t i = 0; i < bf.size(); ++i) b16[i] = f32_to_bf16(bf[i]);
          const void* B = t == DType::F32 ? static_cast<const void*>(bf.data()) : b16.data();
          auto bv = [&](size_t i) { return t == DType::F32 ? bf[i] : bf16_to_f32(b16[i]); };
          // Element (k, n) of B and (i, k) of A in each form.
          const int64_t b_rs = form == 0 ? 1 : c.N, b_cs = form == 0 ? c.K : 1;
          const int64_t a_rs = form == 2 ? 1 : c.K, a_cs = form == 2 ? c.M : 1;
          const std::vector<float> bias = randn(size_t(c.N), 5);
          for (float beta : {0.0f, 1.0f}) {
            std::vector<float> C(size_t(c.M * c.N), beta == 0.0f ? NAN : 0.25f);
            k.gemm(c.M, c.N, c.K, 0.5f, a.data(), a_rs, a_cs, B, t, b_rs, b_cs, beta, C.data(), c.N,
                   bias.data());
            for (int64_t i = 0; i < c.M; ++i)
              for (int64_t n = 0; n < c.N; ++n) {
                double ref = 0, mag = 0;
                for (int64_t kk = 0; kk < c.K; ++kk) {
                  const double p =
                      double(a[size_t(i * a_rs + kk * a_cs)]) * bv(size_t(kk * b_rs + n * b_cs));
                  ref += p;
                  mag += std::fabs(p);
                }
                const double want = 0.5 * ref + (beta == 0.0f ? 0.0 : 0.25) + bias[size_t(n)];
                ASSERT_NEAR(C[size_t(i * c.N + n)], want, 2e-5 * (1.0 + mag))
                    << level_name(lv) << " " << dtype_name(t) << " form " << form << " M=" << c.M
                    << " N=" << c.N << " K=" << c.K << " beta " << beta;
              }
          }
        }
      }
    }
  }
}

// The bf16 product: A and B rounded to bf16 (each product within 2^-8 of the exact one, relative;
// f16 weights are rounded to bf16 on the way), f32 sums: 8e-3 of Σ|a·b|.
TEST(CpuKernels, Bf16GemmMatchesReferenceWhereTheCpuHasIt) {
  for (Level lv : levels()) {
    const Kernels& k = kernels_at(lv);
    if (!k.gemm_bf16) continue;
    std::printf("bf16 GEMM on level %s\n", level_name(lv));
    for (DType t : {DType::BF16, DType::F16})
      for (int64_t M : {1, 13, 100})
        for (int64_t K : {1, 7, 300}) {
          const int64_t N = 45;
          const std::vector<float> a = randn(size_t(M * K), 8), bf = randn(size_t(N * K), 9);
          std::vector<uint16_t> b16(bf.size());
          for (size_t i = 0; i < bf.size(); ++i)
            b16[i] = t == DType::BF16 ? f32_to_bf16(bf[i]) : f32_to_f16(bf[i]);
          auto bv = [&](size_t i) {
            return t == DType::BF16 ? bf16_to_f32(b16[i]) : f16_to_f32(b16[i]);
          };
          std::vector<float> C(size_t(M * N), 0.25f);
          k.gemm_bf16(M, N, K, 1.0f, a.data(), K, 1, b16.data(), t, 1, K, 1.0f, C.data(), N,
                      nullptr);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t n = 0; n < N; ++n) {
              double ref = 0, mag = 0;
              for (int64_t kk = 0; kk < K; ++kk) {
                const double p = double(a[size_t(i * K + kk)]) * bv(size_t(n * K + kk));
                ref += p;
                mag += std::fabs(p);
              }
              ASSERT_NEAR(C[size_t(i * N + n)], 0.25 + ref, 8e-3 * mag + 1e-6)
                  << dtype_name(t) << " " << M << " " << K;
            }
        }
  }
}

TEST(CpuKernels, Q8RowsAgreeAcrossLevelsAndWithReference) {
  const int64_t M = 7, N = 10, K = 96, blocks = K / kQ8Block;
  std::vector<float> x = randn(size_t(M * K), 5);
  for (int64_t k = 0; k < kQ8Block; ++k) x[size_t(2 * K + k)] = 0.0f;  // a zero block
  std::mt19937 g(6);
  std::uniform_int_distribution<int> qd(-127, 127);
  std::vector<int8_t> q(size_t(N * K));
  for (auto& v : q) v = int8_t(qd(g));
  std::vector<uint16_t> d(size_t(N * blocks));
  for (size_t i = 0; i < d.size(); ++i) d[i] = f32_to_f16(0.001f * float(1 + i % 7));
  std::vector<int8_t> xq(size_t(M * K));
  std::vector<float> xd(size_t(M * blocks));
  std::vector<float> first;
  for (Level lv : levels()) {
    const Kernels& k = kernels_at(lv);
    std::vector<float> y(size_t(M * N), 2.0f);
    k.q8_rows(M, N, K, x.data(), K, q.data(), d.data(), y.data(), N, true, xq.data(), xd.data());
    if (first.empty()) {
      first = y;
      // The reference: the same quantized x, products in double.
      for (int64_t r = 0; r < M; ++r)
        for (int64_t n = 0; n < N; ++n) {
          double ref = 0, mag = 0;
          for (int64_t b = 0; b < blocks; ++b)
            for (int64_t i = 0; i < kQ8Block; ++i) {
              const int64_t kk = b * kQ8Block + i;
              const double p = double(xd[size_t(r * blocks + b)]) * xq[size_t(r * K + kk)] *
                               f16_to_f32(d[size_t(n * blocks + b)]) * q[size_t(n * K + kk)];
              ref += p;
              mag += std::fabs(p);
            }
          EXPECT_NEAR(y[size_t(r * N + n)], 2.0 + ref, 1e-6 * (1.0 + mag));
        }
    } else {
      EXPECT_EQ(std::memcmp(first.data(), y.data(), y.size() * 4), 0)
          << level_name(lv) << " (" << k.q8_method << ") differs from " << level_name(Level(0));
    }
    // Row independence: each row alone gives the same bits.
    for (int64_t r = 0; r < M; ++r) {
      std::vector<float> one(size_t(N), 2.0f);
      k.q8_rows(1, N, K, x.data() + r * K, K, q.data(), d.data(), one.data(), N, true, xq.data(),
                xd.data());
      ASSERT_EQ(std::memcmp(one.data(), y.data() + r * N, size_t(N) * 4), 0)
          << level_name(lv) << " row " << r;
    }
  }
}

TEST(CpuKernels, Q8ActivationRoundingIsBoundedAndNanSafe) {
  const int64_t K = 64;
  std::vector<float> x = randn(size_t(K), 7);
  x[3] = NAN;
  std::vector<int8_t> xq(static_cast<size_t>(K));
  std::vector<float> xd(2);
  quantize_rows_q8(1, K, x.data(), K, xq.data(), xd.data());
  EXPECT_EQ(xq[3], 0);
  for (int64_t k = 0; k < K; ++k) {
    if (k == 3) continue;
    EXPECT_LE(std::fabs(x[size_t(k)] - xd[size_t(k / 32)] * xq[size_t(k)]),
              0.5f * xd[size_t(k / 32)] * 1.0001f);
  }
}

}  // namespace
}  // namespace rcc::kernels
