// Every CPU op against a slow scalar reference written here in double precision, on random inputs
// of several shapes (odd sizes, one row, sizes that straddle the ops' internal block sizes). Each
// op runs with 1 and with 4 pool threads: both results are checked against the reference, and
// against each other bit for bit where the op's arithmetic does not depend on the partition.
//
// Tolerances are derived per element from the standard floating-point error bounds (Higham,
// "Accuracy and Stability of Numerical Algorithms", ch. 3): an f32 dot product of K terms is off by
// at most gamma_K · Σ|x_i·y_i| with gamma_K ≈ K·u and u = 2^-24, whatever the summation order. Each
// test states the bound it uses next to the comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace rcc {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // unit roundoff of f32, 2^-24
constexpr int kManyThreads = 4;

// Restores the pool size on scope exit.
struct ThreadGuard {
  int saved = num_threads();
  ~ThreadGuard() { set_num_threads(saved); }
};

// Runs `f` with `n` pool threads and returns its result.
template <class F>
auto at_threads(int n, F&& f) {
  ThreadGuard g;
  set_num_threads(n);
  return f();
}

std::vector<float> randn(size_t n, uint32_t seed, float mean = 0.0f, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// ---------------------------------------------------------------------------------------------
// linear

struct LinearCase {
  int64_t rows, N, K;
};

// y = x W^T (+ b) (+ y0), in double, on the weights as stored (after rounding to bf16/f16),
// together with the error scale Σ_k |x_k w_k| + |b| + |y0| of every element.
void linear_reference(const std::vector<float>& x, const std::vector<float>& w,
                      const std::vector<float>* b, const std::vector<float>* y0, int64_t rows,
                      int64_t N, int64_t K, std::vector<double>* ref, std::vector<double>* scale) {
  ref->assign(size_t(rows * N), 0.0);
  scale->assign(size_t(rows * N), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0, a = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = double(x[size_t(r * K + k)]) * double(w[size_t(n * K + k)]);
        s += p;
        a += std::fabs(p);
      }
      if (b) s += (*b)[size_t(n)], a += std::fabs((*b)[size_t(n)]);
      if (y0) s += (*y0)[size_t(r * N + n)], a += std::fabs((*y0)[size_t(r * N + n)]);
      (*ref)[size_t(r * N + n)] = s;
      (*scale)[size_t(r * N + n)] = a;
    }
}

TEST(Ops, LinearMatchesDoubleReference) {
  // Shapes: one element, rows = 1 (the decode path), odd sizes, N straddling the 128-column blocks
  // of bf16/f16 weights and the 64-column minimum blocks of f32 weights, K = 1.
  const std::vector<LinearCase> cases = {{1, 1, 1},     {1, 7, 13},     {3, 65, 33},
                                         {5, 130, 17},  {17, 257, 129}, {1, 300, 200},
                                         {64, 100, 64}, {2, 129, 1},    {9, 513, 70}};
  uint32_t seed = 1;
  for (DType wt : {DType::F32, DType::BF16, DType::F16})
    for (const LinearCase& c : cases)
      for (int mode = 0; mode < 4; ++mode) {
        const bool with_bias = mode & 1, accumulate = mode & 2;
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(wt) << " rows=" << c.rows << " N=" << c.N << " K=" << c.K
                     << " bias=" << with_bias << " accumulate=" << accumulate);
        std::vector<float> x = randn(size_t(c.rows * c.K), ++seed);
        Tensor W =
            Tensor::from_f32(randn(size_t(c.N * c.K), ++seed, 0.0f, 0.5f), {c.N, c.K}).to(wt);
        Tensor bias = Tensor::from_f32(randn(size_t(c.N), ++seed), {c.N});
        std::vector<float> y0 = randn(size_t(c.rows * c.N), ++seed);
        // The reference multiplies by the weights as stored (bf16/f16-rounded), so the comparison
        // isolates the op's arithmetic from the storage rounding.
        const std::vector<float> w = W.to_vector(), b = bias.to_vector();
        std::vector<double> ref, scale;
        linear_reference(x, w, with_bias ? &b : nullptr, accumulate ? &y0 : nullptr, c.rows, c.N,
                         c.K, &ref, &scale);
        auto run = [&] {
          std::vector<float> y = accumulate ? y0 : std::vector<float>(y0.size(), NAN);
          ops::linear(x.data(), c.rows, W, with_bias ? &bias : nullptr, y.data(), accumulate);
          return y;
        };
        std::vector<float> y1 = at_threads(1, run), yn = at_threads(kManyThreads, run);
        // Bound: f32 accumulation of K products plus bias and y0: gamma_{K+2} · scale (Higham 3.5),
        // with a factor 2 for the final rounding of the reference comparison.
        const double gamma = double(c.K + 4) * kU * 2;
        for (size_t i = 0; i < ref.size(); ++i) {
          ASSERT_LE(std::fabs(y1[i] - ref[i]), gamma * scale[i] + 1e-30) << "element " << i;
          ASSERT_LE(std::fabs(yn[i] - ref[i]), gamma * scale[i] + 1e-30) << "element " << i;
        }
        // bf16/f16 weights use fixed 128-column blocks, so the partition of the product (and with
        // it every summation order) does not depend on the thread count: bit-identical. f32
        // weights use blocks of N / threads columns, which may change the BLAS kernel choice for
        // the edge tiles; the bound above covers them.
        if (wt != DType::F32) {
          EXPECT_TRUE(same_bits(y1, yn));
        }
      }
}

TEST(Ops, LinearRejectsBadArguments) {
  std::vector<float> x(8, 1.0f), y(8);
  Tensor w1 = Tensor::zeros(DType::F32, {8});
  EXPECT_THROW(ops::linear(x.data(), 1, w1, nullptr, y.data()), Error);
  Tensor w = Tensor::zeros(DType::F32, {2, 4});
  Tensor bad_bias = Tensor::zeros(DType::F32, {3});
  EXPECT_THROW(ops::linear(x.data(), 1, w, &bad_bias, y.data()), Error);
  Tensor bf_bias = Tensor::zeros(DType::BF16, {2});
  EXPECT_THROW(ops::linear(x.data(), 1, w, &bf_bias, y.data()), Error);
  Tensor wi = Tensor::zeros(DType::I32, {2, 4});
  EXPECT_THROW(ops::linear(x.data(), 1, wi, nullptr, y.data()), Error);
}

TEST(Ops, SgemmTransposeFlags) {
  // C = alpha op(A) op(B) + beta C for all four transpose combinations, odd sizes, padded leading
  // dimensions. Bound as for linear: gamma_{K+2} · (|alpha| Σ|a b| + |beta c|).
  const int64_t M = 5, N = 7, K = 9, pad = 3;
  uint32_t seed = 100;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      std::vector<float> A = randn(size_t((ta ? K : M) * lda), ++seed);
      std::vector<float> B = randn(size_t((tb ? N : K) * ldb), ++seed);
      std::vector<float> C = randn(size_t(M * ldc), ++seed), C0 = C;
      const float alpha = 0.75f, beta = -1.5f;
      ops::sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double s = 0, a = 0;
          for (int64_t k = 0; k < K; ++k) {
            double av = ta ? A[size_t(k * lda + m)] : A[size_t(m * lda + k)];
            double bv = tb ? B[size_t(n * ldb + k)] : B[size_t(k * ldb + n)];
            s += av * bv;
            a += std::fabs(av * bv);
          }
          double want = alpha * s + beta * C0[size_t(m * ldc + n)];
          double sc = alpha * a + std::fabs(beta * C0[size_t(m * ldc + n)]);
          EXPECT_LE(std::fabs(C[size_t(m * ldc + n)] - want), double(K + 4) * kU * 2 * sc)
              << "ta=" << ta << " tb=" << tb;
        }
      // The padding columns of C are untouched.
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = N; n < ldc; ++n)
          EXPECT_EQ(C[size_t(m * ldc + n)], C0[size_t(m * ldc + n)]);
    }
}

// ---------------------------------------------------------------------------------------------
// layer_norm

TEST(Ops, LayerNormMatchesDoubleReference) {
  struct Case {
    int64_t rows, H;
    float mean;
  };
  // H = 1 (zero variance: y = b), odd widths, rows below and above the 4-row minimum chunk, and
  // inputs with a mean offset of 5 standard deviations.
  const std::vector<Case> cases = {{1, 1, 0},     {1, 3, 0},    {5, 17, 5},  {33, 64, 0},
                                   {2, 1000, -5}, {7, 2049, 1}, {1, 4096, 0}};
  uint32_t seed = 200;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "rows=" << c.rows << " H=" << c.H);
    std::vector<float> x = randn(size_t(c.rows * c.H), ++seed, c.mean, 1.0f);
    std::vector<float> w = randn(size_t(c.H), ++seed, 1.0f, 0.5f), b = randn(size_t(c.H), ++seed);
    const float eps = 1e-5f;
    auto run = [&] {
      std::vector<float> y(x.size());
      ops::layer_norm(x.data(), c.rows, c.H, w.data(), b.data(), eps, y.data());
      return y;
    };
    std::vector<float> y1 = at_threads(1, run), yn = at_threads(kManyThreads, run);
    // Row-wise arithmetic, no cross-row reduction: the partition cannot change a result.
    EXPECT_TRUE(same_bits(y1, yn));
    // In place (x and y alias) gives the same bits.
    std::vector<float> inplace = x;
    ops::layer_norm(inplace.data(), c.rows, c.H, w.data(), b.data(), eps, inplace.data());
    EXPECT_TRUE(same_bits(inplace, y1));
    for (int64_t r = 0; r < c.rows; ++r) {
      const float* xr = x.data() + r * c.H;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < c.H; ++i) mean += xr[i];
      mean /= double(c.H);
      for (int64_t i = 0; i < c.H; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= double(c.H);
      const double inv = 1.0 / std::sqrt(var + double(eps));
      for (int64_t i = 0; i < c.H; ++i) {
        const double xhat = (xr[i] - mean) * inv;
        const double want = xhat * w[size_t(i)] + b[size_t(i)];
        // The op accumulates the statistics in double, then rounds the mean to f32 (an error of
        // u·|mean| in x - mean, i.e. u·|mean|·inv after normalisation) and spends about four f32
        // roundings on (x - m)·inv·w + b: bound 8u·(|xhat·w| + |b|) + 2u·|mean|·inv·|w|.
        const double tol = 8 * kU * (std::fabs(xhat * w[size_t(i)]) + std::fabs(b[size_t(i)])) +
                           2 * kU * std::fabs(mean) * inv * std::fabs(w[size_t(i)]) + 1e-30;
        ASSERT_LE(std::fabs(y1[size_t(r * c.H + i)] - want), tol) << "row " << r << " col " << i;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gelu, add_inplace

TEST(Ops, GeluExactErf) {
  // Sizes below, at and above the 4096-element minimum chunk.
  uint32_t seed = 300;
  for (int64_t n : {1, 7, 4095, 4096, 4097, 20001}) {
    std::vector<float> x = randn(size_t(n), ++seed, 0.0f, 3.0f);
    if (n > 10) {
      x[0] = 0.0f, x[1] = -0.0f, x[2] = 10.0f, x[3] = -10.0f, x[4] = 100.0f, x[5] = -100.0f;
      x[6] = 1e-20f, x[7] = -3.0f, x[8] = 3.0f;
    }
    auto run = [&] {
      std::vector<float> y = x;
      ops::gelu(y.data(), n);
      return y;
    };
    std::vector<float> y1 = at_threads(1, run), yn = at_threads(kManyThreads, run);
    EXPECT_TRUE(same_bits(y1, yn)) << "element-wise op must not depend on the partition";
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[size_t(i)];
      const double want = 0.5 * xi * (1.0 + std::erf(xi / std::sqrt(2.0)));
      // In f32, erf(x/√2) carries an absolute error of a few u (its value is at most 1), which the
      // factor 0.5·x scales; the products add a few relative u: bound 4u·|x| + 4u·|want|. Near
      // x = -10 the exact value (~1e-23) is lost entirely to cancellation in 1 + erf, which this
      // absolute bound allows (torch's f32 gelu behaves the same).
      const double tol = 4 * kU * std::fabs(xi) + 4 * kU * std::fabs(want) + 1e-37;
      ASSERT_LE(std::fabs(y1[size_t(i)] - want), tol) << "x = " << xi;
    }
  }
  // Exact values where erf is exact in f32: gelu(0) = 0, gelu(large) = x, gelu(-large) = -0 or 0.
  float v[3] = {0.0f, 50.0f, -50.0f};
  ops::gelu(v, 3);
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 50.0f);
  EXPECT_EQ(v[2], 0.0f);
  float nan = std::numeric_limits<float>::quiet_NaN();
  ops::gelu(&nan, 1);
  EXPECT_TRUE(std::isnan(nan));
}

TEST(Ops, AddInplace) {
  for (int64_t n : {1, 16383, 16384, 40000}) {
    std::vector<float> y = randn(size_t(n), 400), x = randn(size_t(n), 401),
                       want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) want[size_t(i)] = y[size_t(i)] + x[size_t(i)];  // one rounding
    auto run = [&] {
      std::vector<float> r = y;
      ops::add_inplace(r.data(), x.data(), n);
      return r;
    };
    EXPECT_TRUE(same_bits(at_threads(1, run), want));  // a single f32 addition: exact match
    EXPECT_TRUE(same_bits(at_threads(kManyThreads, run), want));
  }
}

// ---------------------------------------------------------------------------------------------
// rotary

// The angles of GPT-NeoX as transformers computes them in f32: inv_freq = 1 / base^(2i/rot),
// angle = float(pos) · inv_freq (RCC_SPEC §1). Returned in double so that the rotation below is
// done independently of the op.
std::vector<double> torch_f32_angles(int64_t rot, int64_t pos, double base) {
  std::vector<double> a(size_t(rot / 2));
  for (int64_t i = 0; i < rot / 2; ++i) {
    const float inv = 1.0f / std::pow(float(base), float(2 * i) / float(rot));
    a[size_t(i)] = double(float(pos) * inv);
  }
  return a;
}

// Rotate-half as a complex multiplication: (x_i + i·x_{i+rot/2}) · e^{i·angle_i}.
void rotate_reference(const float* in, double* out, int64_t dim, int64_t rot,
                      const std::vector<double>& angles) {
  for (int64_t i = 0; i < dim; ++i) out[i] = in[i];
  for (int64_t i = 0; i < rot / 2; ++i) {
    std::complex<double> z(in[i], in[i + rot / 2]);
    z *= std::polar(1.0, angles[size_t(i)]);
    out[i] = z.real();
    out[i + rot / 2] = z.imag();
  }
}

TEST(Ops, RotaryQkvMatchesComplexRotation) {
  struct Case {
    int64_t rows, heads, hd, rot, pos0;
    double base;
  };
  // Partial (Pythia: a quarter of the head), full, two dims, none; positions from 0 and offset (a
  // cache already holding tokens); rows below and above the 8-row minimum chunk.
  const std::vector<Case> cases = {{1, 1, 8, 2, 0, 10000},    {3, 2, 16, 4, 0, 10000},
                                   {17, 3, 8, 8, 5, 10000},   {9, 4, 6, 2, 1000, 500},
                                   {20, 2, 32, 8, 4090, 1e6}, {2, 2, 8, 0, 7, 10000}};
  uint32_t seed = 500;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "rows=" << c.rows << " heads=" << c.heads << " hd=" << c.hd
                                      << " rot=" << c.rot << " pos0=" << c.pos0);
    const int64_t width = c.heads * 3 * c.hd;
    std::vector<float> qkv = randn(size_t(c.rows * width), ++seed);
    auto run = [&] {
      std::vector<float> r = qkv;
      ops::rotary_qkv(r.data(), c.rows, c.heads, c.hd, c.rot, c.pos0, c.base);
      return r;
    };
    std::vector<float> y1 = at_threads(1, run), yn = at_threads(kManyThreads, run);
    EXPECT_TRUE(same_bits(y1, yn));
    std::vector<double> want(size_t(c.hd));
    for (int64_t r = 0; r < c.rows; ++r) {
      const std::vector<double> ang = torch_f32_angles(c.rot, c.pos0 + r, c.base);
      for (int64_t h = 0; h < c.heads; ++h)
        for (int part = 0; part < 3; ++part) {  // q, k rotate; v does not
          const size_t off = size_t(r * width + (h * 3 + part) * c.hd);
          if (part < 2) {
            rotate_reference(qkv.data() + off, want.data(), c.hd, c.rot, ang);
          } else {
            for (int64_t i = 0; i < c.hd; ++i) want[size_t(i)] = qkv[off + size_t(i)];
          }
          for (int64_t i = 0; i < c.hd; ++i) {
            // Same f32 angle; cos/sin rounded to f32 (u each), two products and a sum in f32:
            // bound 4u·(|x_i| + |x_{i+rot/2}|) for rotated entries, exact copies otherwise.
            const int64_t j = i < c.rot / 2 ? i + c.rot / 2 : i - c.rot / 2;
            const double tol =
                (i < c.rot && part < 2)
                    ? 4 * kU * (std::fabs(qkv[off + size_t(i)]) + std::fabs(qkv[off + size_t(j)]))
                    : 0.0;
            ASSERT_LE(std::fabs(y1[off + size_t(i)] - want[size_t(i)]), tol)
                << "row " << r << " head " << h << " part " << part << " dim " << i;
          }
        }
    }
  }
}

TEST(Ops, RotaryAngleFormulaAgainstExactAngles) {
  // Independent of the f32 angle emulation above: with angles pos · base^(-2i/rot) computed in
  // double, positions < 64 agree to the f32 angle error (≈ 2u·angle ≤ 8e-6 rad) times |x|.
  const int64_t rot = 16;
  std::vector<float> v0 = randn(size_t(rot + 4), 600);
  for (int64_t pos : {0, 1, 2, 17, 63}) {
    std::vector<float> v = v0;
    ops::rotary_apply(v.data(), rot, pos, 10000.0);
    std::vector<double> ang(size_t(rot / 2)), want(v.size());
    for (int64_t i = 0; i < rot / 2; ++i)
      ang[size_t(i)] = double(pos) * std::pow(10000.0, -2.0 * double(i) / double(rot));
    rotate_reference(v0.data(), want.data(), int64_t(v.size()), rot, ang);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want[i], 2e-5) << "pos " << pos;
    // Position 0 is the identity, exactly.
    if (pos == 0) {
      EXPECT_TRUE(same_bits(v, v0));
    }
  }
}

TEST(Ops, RotaryApplyEqualsRotaryQkv) {
  // rotary_apply on one head vector equals the q slice of rotary_qkv at the same position.
  std::vector<float> qkv = randn(3 * 16, 700), q(qkv.begin(), qkv.begin() + 16);
  ops::rotary_qkv(qkv.data(), 1, 1, 16, 4, 123, 10000.0);
  ops::rotary_apply(q.data(), 4, 123, 10000.0);
  EXPECT_TRUE(same_bits(q, std::vector<float>(qkv.begin(), qkv.begin() + 16)));
}

// ---------------------------------------------------------------------------------------------
// causal attention

TEST(Ops, CausalAttentionMatchesNaiveSoftmax) {
  struct Case {
    int64_t rows, past, heads, hd;
  };
  // One decode row with and without a cache, a full 64-row block, blocks of 64 plus a remainder
  // with and without a cached past, head_dim 1 and odd head_dims.
  const std::vector<Case> cases = {{1, 0, 1, 8},   {1, 37, 2, 16},  {64, 0, 2, 8},  {65, 0, 3, 13},
                                   {130, 3, 2, 8}, {70, 64, 1, 16}, {5, 200, 4, 1}, {129, 1, 3, 5}};
  uint32_t seed = 800;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "rows=" << c.rows << " past=" << c.past
                                      << " heads=" << c.heads << " hd=" << c.hd);
    const int64_t total = c.past + c.rows, width = c.heads * c.hd;
    // Padded strides: q rows as in the fused layout would be, k/v rows wider than heads·hd.
    const int64_t q_stride = width + 5, kv_stride = width + 3;
    std::vector<float> q = randn(size_t(c.rows * q_stride), ++seed);
    std::vector<float> k = randn(size_t(total * kv_stride), ++seed);
    std::vector<float> v = randn(size_t(total * kv_stride), ++seed);
    auto run = [&] {
      std::vector<float> out(size_t(c.rows * width), NAN);
      ops::causal_attention(q.data(), q_stride, k.data(), v.data(), kv_stride, c.rows, c.past,
                            c.heads, c.hd, out.data());
      return out;
    };
    std::vector<float> y1 = at_threads(1, run), yn = at_threads(kManyThreads, run);
    // Each (head, 64-query block) is one task whose arithmetic does not depend on which thread
    // runs it: bit-identical.
    EXPECT_TRUE(same_bits(y1, yn));
    const double scale = 1.0 / std::sqrt(double(c.hd));
    std::vector<double> s;
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t h = 0; h < c.heads; ++h) {
        const int64_t visible = c.past + r + 1;
        const float* qr = q.data() + r * q_stride + h * c.hd;
        s.assign(size_t(visible), 0.0);
        double max_dot_err = 0, mx = -INFINITY;
        for (int64_t j = 0; j < visible; ++j) {
          const float* kj = k.data() + j * kv_stride + h * c.hd;
          double dot = 0, absdot = 0;
          for (int64_t i = 0; i < c.hd; ++i) {
            dot += double(qr[i]) * kj[i];
            absdot += std::fabs(double(qr[i]) * kj[i]);
          }
          s[size_t(j)] = dot * scale;
          max_dot_err = std::max(max_dot_err, double(c.hd + 2) * kU * absdot * scale);
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (double& x : s) sum += x = std::exp(x - mx);
        for (int64_t i = 0; i < c.hd; ++i) {
          double want = 0, absv = 0;
          for (int64_t j = 0; j < visible; ++j) {
            const double p = s[size_t(j)] / sum;
            const double vj = v[size_t(j * kv_stride + h * c.hd + i)];
            want += p * vj;
            absv += p * std::fabs(vj);
          }
          // Scores carry the f32 dot-product error δ (gamma_{hd+2}·Σ|q k|·scale); exp turns it into
          // a relative weight error ≤ 2δ (after normalisation), plus a few u for exp and the
          // division; the f32 P·V product adds gamma_{visible+2}. All relative to Σ p_j |v_j|;
          // factor 2 of margin.
          const double tol =
              2 * (2 * max_dot_err + 8 * kU + double(visible + 2) * kU) * absv + 1e-30;
          const float got = y1[size_t(r * width + h * c.hd + i)];
          ASSERT_LE(std::fabs(got - want), tol) << "row " << r << " head " << h << " dim " << i;
        }
      }
  }
}

TEST(Ops, CausalAttentionIgnoresFutureKeys) {
  // Keys and values after a query's position must not matter: poison them with huge values.
  const int64_t rows = 70, heads = 2, hd = 4, width = heads * hd;
  std::vector<float> q = randn(size_t(rows * width), 900), k = randn(size_t(rows * width), 901),
                     v = randn(size_t(rows * width), 902);
  std::vector<float> out(size_t(rows * width));
  ops::causal_attention(q.data(), width, k.data(), v.data(), width, rows, 0, heads, hd, out.data());
  for (int64_t cut : {0, 1, 63, 64, 65}) {
    std::vector<float> k2 = k, v2 = v, out2(out.size());
    for (size_t i = size_t((cut + 1) * width); i < k2.size(); ++i) k2[i] = v2[i] = 1e30f;
    ops::causal_attention(q.data(), width, k2.data(), v2.data(), width, rows, 0, heads, hd,
                          out2.data());
    // Rows 0..cut see only unpoisoned keys: same inputs to the same task arithmetic except the
    // masked tail, which the op zeroes before P·V — bit-identical.
    for (int64_t r = 0; r <= cut; ++r)
      for (int64_t i = 0; i < width; ++i)
        ASSERT_EQ(out2[size_t(r * width + i)], out[size_t(r * width + i)])
            << "cut " << cut << " row " << r;
  }
}

// ---------------------------------------------------------------------------------------------
// dtype conversions

// IEEE half decoded independently: sign · mantissa · 2^exp via ldexp.
double half_value(uint16_t h) {
  const int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0)
    v = std::ldexp(double(m), -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = std::ldexp(double(1024 + m), e - 25);
  return sign ? -v : v;
}

// Round-to-nearest-even reference for f32 -> f16, by search over the 31744 finite non-negative
// halves (sorted by value as by bits). Beyond the largest half (65504) the next step would be
// 65536: values from the midpoint 65520 up round to infinity.
uint16_t f32_to_f16_reference(float f) {
  if (std::isnan(f)) return 0x7e00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return sign | 0x7c00;
  uint16_t lo = 0, hi = 0x7bff;  // largest half <= a
  while (lo < hi) {
    uint16_t mid = uint16_t((lo + hi + 1) / 2);
    if (half_value(mid) <= a)
      lo = mid;
    else
      hi = uint16_t(mid - 1);
  }
  if (half_value(lo) == a || lo == 0x7bff) return sign | lo;
  const double d_lo = a - half_value(lo), d_hi = half_value(uint16_t(lo + 1)) - a;
  if (d_lo < d_hi) return sign | lo;
  if (d_hi < d_lo) return sign | uint16_t(lo + 1);
  return sign | ((lo & 1) ? uint16_t(lo + 1) : lo);
}

// Round-to-nearest-even reference for f32 -> bf16 by comparing distances to the two neighbours in
// double; the step above the largest bf16 is 2^128 (so its midpoint rounds to infinity, as IEEE).
uint16_t f32_to_bf16_reference(float f) {
  if (std::isnan(f)) return 0x7fc0 | (std::signbit(f) ? 0x8000 : 0);
  const uint32_t u = f32_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000), lo = uint16_t((u >> 16) & 0x7fff);
  if (lo == 0x7f80) return sign | lo;  // infinity
  auto value = [](uint16_t b) {
    return b == 0x7f80 ? std::ldexp(1.0, 128) : double(bits_f32(uint32_t(b) << 16));
  };
  const double a = std::fabs(double(f));
  const double d_lo = a - value(lo), d_hi = value(uint16_t(lo + 1)) - a;
  if (d_lo < d_hi || d_lo == 0) return sign | lo;
  if (d_hi < d_lo) return sign | uint16_t(lo + 1);
  return sign | ((lo & 1) ? uint16_t(lo + 1) : lo);
}

// Interesting f32 inputs: random bit patterns, every half and bf16 value and the midpoints between
// neighbours (the ties) together with the floats just either side of each midpoint.
std::vector<float> conversion_inputs() {
  std::vector<float> v;
  std::mt19937 rng(1000);
  for (int i = 0; i < 200000; ++i) {
    float f = bits_f32(uint32_t(rng()));
    if (!std::isnan(f)) v.push_back(f);
  }
  auto around = [&](double mid) {
    float m = float(mid);
    v.push_back(m);
    v.push_back(std::nextafter(m, INFINITY));
    v.push_back(std::nextafter(m, -INFINITY));
    v.push_back(-m);
  };
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    v.push_back(float(half_value(uint16_t(h))));
    around((half_value(uint16_t(h)) + (h + 1 < 0x7c00 ? half_value(uint16_t(h + 1)) : 65536.0)) /
           2);
  }
  for (uint32_t b = 0; b < 0x7f80; b += 7) {
    double x = bits_f32(b << 16), y = bits_f32((b + 1) << 16);
    if (b + 1 == 0x7f80) y = std::ldexp(1.0, 128);
    v.push_back(float(x));
    if (b + 1 < 0x7f80) around((x + y) / 2);
  }
  for (float f : {0.0f, -0.0f, 65504.0f, 65519.996f, 65520.0f, 1e6f, 3.4028235e38f, 1e-45f, 1e-8f,
                  2.9802322e-8f /* 2^-25: half of the smallest f16 subnormal */,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    v.push_back(f);
  return v;
}

TEST(Dtype, F32ToBf16RoundsToNearestEven) {
  for (float f : conversion_inputs())
    ASSERT_EQ(f32_to_bf16(f), f32_to_bf16_reference(f))
        << "f = " << f << " bits " << std::hex << f32_bits(f);
  // Ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3·2^-8 goes up.
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
  // Overflow: the largest float rounds to infinity; infinities and zeros keep their sign.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  // NaNs stay NaNs, including signalling ones whose payload lives only in the dropped low bits.
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    const uint16_t b = f32_to_bf16(bits_f32(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(b))) << std::hex << nan;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << "sign kept";
  }
}

TEST(Dtype, Bf16ToF32IsExactEverywhere) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(uint16_t(b));
    EXPECT_EQ(f32_bits(f), b << 16);  // bf16 is the top half of an f32
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), b);
    }
  }
}

TEST(Dtype, F16ToF32IsExactEverywhere) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    const double want = half_value(uint16_t(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      continue;
    }
    ASSERT_EQ(double(f), want) << std::hex << h;
    ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << std::hex << h;
    ASSERT_EQ(f32_to_f16(f), h) << "round trip of " << std::hex << h;  // incl. subnormals, ±0, ±inf
  }
}

TEST(Dtype, F32ToF16RoundsToNearestEven) {
  for (float f : conversion_inputs())
    ASSERT_EQ(f32_to_f16(f), f32_to_f16_reference(f))
        << "f = " << f << " bits " << std::hex << f32_bits(f);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the midpoint to 65536 rounds to even: infinity
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);         // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);         // halfway to it: even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);         // above halfway
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);         // 1.5 units: tie to even (2)
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -26)), 0x8000);        // underflow keeps the sign
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);      // rounds up into the normals
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie: even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00000u}) {
    const uint16_t h = f32_to_f16(bits_f32(nan));
    EXPECT_TRUE(std::isnan(f16_to_f32(h))) << std::hex << nan;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000);
  }
}

TEST(Dtype, TensorConversionsChain) {
  std::vector<float> vals = randn(1001, 1100, 0.0f, 100.0f);
  vals[0] = 1e6f, vals[1] = -1e-7f, vals[2] = std::numeric_limits<float>::infinity();
  vals[3] = NAN;
  Tensor f = Tensor::from_f32(vals, {7, 11, 13});
  Tensor b = f.to(DType::BF16), h = f.to(DType::F16);
  ASSERT_EQ(b.shape(), f.shape());
  for (size_t i = 0; i < vals.size(); ++i) {
    ASSERT_EQ(b.data<uint16_t>()[i], f32_to_bf16(vals[i]));
    ASSERT_EQ(h.data<uint16_t>()[i], f32_to_f16(vals[i]));
  }
  // bf16 -> f16 goes through the exact f32 value: one rounding.
  Tensor bh = b.to(DType::F16), hb = h.to(DType::BF16);
  for (size_t i = 0; i < vals.size(); ++i) {
    ASSERT_EQ(bh.data<uint16_t>()[i], f32_to_f16(bf16_to_f32(b.data<uint16_t>()[i])));
    ASSERT_EQ(hb.data<uint16_t>()[i], f32_to_bf16(f16_to_f32(h.data<uint16_t>()[i])));
  }
  // Widening to f32 and back is the identity on stored bits.
  EXPECT_EQ(std::memcmp(b.to(DType::F32).to(DType::BF16).raw(), b.raw(), b.nbytes()), 0);
  EXPECT_EQ(std::memcmp(h.to(DType::F32).to(DType::F16).raw(), h.raw(), h.nbytes()), 0);
  EXPECT_EQ(std::memcmp(f.clone().raw(), f.raw(), f.nbytes()), 0);
  EXPECT_NE(f.clone().raw(), f.raw());
  // Integer tensors widen to f32; narrowing to integers is refused with an rcc::Error.
  Tensor i = Tensor::empty(DType::I64, {3});
  i.data<int64_t>()[0] = -3, i.data<int64_t>()[1] = 0, i.data<int64_t>()[2] = 1 << 20;
  EXPECT_EQ(i.to_vector(), (std::vector<float>{-3, 0, 1 << 20}));
  EXPECT_EQ(i.to(DType::F32).to_vector(), i.to_vector());
  EXPECT_THROW(f.to(DType::I32), Error);
  EXPECT_THROW(b.data<float>(), Error);  // wrong element type for raw access
}

// ---------------------------------------------------------------------------------------------
// thread pool

TEST(ThreadPool, EveryIndexExactlyOnce) {
  ThreadGuard g;
  for (int threads : {1, 2, 3, 8})
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1001})
      for (int64_t min_chunk : {1, 4, 100}) {
        set_num_threads(threads);
        ASSERT_EQ(num_threads(), threads);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        parallel_for(
            n,
            [&](int64_t b, int64_t e) {
              {
                std::lock_guard<std::mutex> l(mu);
                chunks.emplace_back(b, e);
              }
              for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
            },
            min_chunk);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
        // Non-empty, disjoint, contiguous chunks; no more than one per thread; none shorter than
        // min_chunk unless the whole range is.
        std::sort(chunks.begin(), chunks.end());
        EXPECT_LE(chunks.size(), size_t(threads));
        int64_t next = 0;
        for (auto [b, e] : chunks) {
          EXPECT_EQ(b, next);
          EXPECT_LT(b, e);
          if (n >= min_chunk) {
            EXPECT_GE(e - b, min_chunk);
          }
          next = e;
        }
        EXPECT_EQ(next, n);
      }
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadGuard g;
  set_num_threads(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  parallel_for(3, [&](int64_t, int64_t) {
    {
      std::lock_guard<std::mutex> l(mu);
      ids.insert(std::this_thread::get_id());
    }
    // Each chunk waits (at most 10 s) for the others, so no thread can run two of them in a row.
    arrived++;
    for (int spin = 0; spin < 10000 && arrived.load() < 3; ++spin)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(ids.size(), 3u);
}

TEST(ThreadPool, ExceptionsPropagateAndPoolSurvives) {
  ThreadGuard g;
  for (int threads : {1, 4}) {
    set_num_threads(threads);
    try {
      parallel_for(100, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          if (i == 57) fail("boom at ", i);
      });
      ADD_FAILURE() << "no exception with " << threads << " threads";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "boom at 57");
    }
    EXPECT_THROW(parallel_for(10, [](int64_t, int64_t) { throw std::out_of_range("x"); }),
                 std::out_of_range);
    // Still works afterwards.
    std::atomic<int64_t> sum{0};
    parallel_for(1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  }
}

TEST(ThreadPool, NestedCallsRunSeriallyOnTheCallingThread) {
  ThreadGuard g;
  set_num_threads(4);
  std::vector<std::atomic<int>> hits(40 * 50);
  std::atomic<int> foreign{0};
  parallel_for(40, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const auto me = std::this_thread::get_id();
      parallel_for(50, [&](int64_t ib, int64_t ie) {
        if (std::this_thread::get_id() != me) foreign++;
        for (int64_t i = ib; i < ie; ++i) hits[size_t(o * 50 + i)]++;
      });
    }
  });
  EXPECT_EQ(foreign.load(), 0);
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, SetNumThreads) {
  ThreadGuard g;
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  const auto me = std::this_thread::get_id();
  int calls = 0;
  parallel_for(1000, [&](int64_t b, int64_t e) {
    EXPECT_EQ(std::this_thread::get_id(), me);
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 1000);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  set_num_threads(0);  // clamped to one
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(5);
  EXPECT_EQ(num_threads(), 5);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  std::atomic<int64_t> n{0};
  parallel_for(10, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 10);
}

}  // namespace
}  // namespace rcc
