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
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"
#include "ops_test_util.h"

namespace rcc {
namespace {

using test::at_threads;
using test::randn;

constexpr double kU = 1.0 / 16777216.0;  // unit roundoff of f32, 2^-24
constexpr int kManyThreads = 4;

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
// angle = float(pos) · inv_freq (spec §1.4). Returned in double so that the rotation below is
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
      ops::rotary_qkv(r.data(), c.rows, AttentionShape{c.heads, c.heads, c.hd},
                      ops::default_rope(c.rot, c.base), c.pos0);
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
    ops::rotary_apply(v.data(), ops::default_rope(rot, 10000.0), pos);
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
  ops::rotary_qkv(qkv.data(), 1, AttentionShape{1, 1, 16}, ops::default_rope(4, 10000.0), 123);
  ops::rotary_apply(q.data(), ops::default_rope(4, 10000.0), 123);
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

}  // namespace
}  // namespace rcc
