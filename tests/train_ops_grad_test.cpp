// Backward of every op against central finite differences of a double-precision reference forward
// written here, on tiny shapes. For each op the objective is J = Σ_i g_i · y_i with fixed random g,
// so dJ/dy = g is what the backward receives.
//
// 1. The f64 reference forward is first checked against the f32 op (so the gradients are those of
//    the function the engine computes): max |f32 − f64| ≤ 1e-5 · max(1, max |y|) (f32 rounding of
//    sums of ≤ 70 terms; observed ~1e-7).
// 2. The f32 backward against the f64 numerical gradient (central differences, h = 1e-5, truncation
//    error O(h²·|y'''|) ~ 1e-10, cancellation ~1e-16/h ~ 1e-11): max |analytic − numeric| ≤
//    1e-5 · max |numeric| per input tensor. The analytic side is f32 with sums of at most ~70 terms
//    (observed ≤ 4e-7 relative), so 1e-5 leaves a 25x margin; a wrong formula (a missing term, a
//    transposed index, a sign) gives errors of order 1.
// Each backward runs with 1 and with 4 threads; both are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/embedding_backward.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace rcc {
namespace {

using Vec = std::vector<double>;
using Fn = std::function<Vec(const Vec&)>;

std::vector<float> randn(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Vec to_f64(const std::vector<float>& v) {
  return Vec(v.begin(), v.end());
}

// Numerical gradient of J(x) = Σ g_i F(x)_i by central differences.
Vec numeric_grad(const Fn& F, Vec x, const Vec& g, double h = 1e-5) {
  Vec grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    Vec yp = F(x);
    x[i] = x0 - h;
    Vec ym = F(x);
    x[i] = x0;
    double s = 0;
    for (size_t j = 0; j < g.size(); ++j) s += g[j] * (yp[j] - ym[j]);
    grad[i] = s / (2 * h);
  }
  return grad;
}

void expect_close_rel(const std::vector<float>& got, const Vec& want, double tol,
                      const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double mx = 0, err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mx = std::max(mx, std::fabs(want[i]));
    const double e = std::fabs(double(got[i]) - want[i]);
    if (!(e <= err)) err = e, worst = i;
  }
  ASSERT_GT(mx, 0.0) << what << ": reference gradient is identically zero (degenerate test)";
  EXPECT_LE(err, tol * mx) << what << ": worst element " << worst << " got " << got[worst]
                           << " want " << want[worst] << " (max |want| " << mx << ")";
}

void expect_forward_matches(const std::vector<float>& y32, const Vec& y64, const char* what) {
  double mx = 1;
  for (double y : y64) mx = std::max(mx, std::fabs(y));
  ASSERT_EQ(y32.size(), y64.size());
  for (size_t i = 0; i < y64.size(); ++i)
    ASSERT_LE(std::fabs(double(y32[i]) - y64[i]), 1e-5 * mx) << what << " forward element " << i;
}

// Runs `f` with 1 and 4 pool threads.
void at_thread_counts(const std::function<void(int)>& f) {
  const int saved = num_threads();
  for (int t : {1, 4}) {
    set_num_threads(t);
    SCOPED_TRACE(::testing::Message() << t << " threads");
    f(t);
  }
  set_num_threads(saved);
}

constexpr double kTol = 1e-5;

// ---- linear
// --------------------------------------------------------------------------------------

Vec linear_ref(const Vec& x, const Vec& w, const Vec& b, int64_t rows, int64_t N, int64_t K) {
  Vec y(size_t(rows * N));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      double s = b[size_t(n)];
      for (int64_t k = 0; k < K; ++k) s += x[size_t(r * K + k)] * w[size_t(n * K + k)];
      y[size_t(r * N + n)] = s;
    }
  return y;
}

TEST(TrainOpsGrad, Linear) {
  struct Case {
    int64_t rows, N, K;
  };
  for (Case c : {Case{1, 1, 1}, Case{3, 5, 7}, Case{17, 33, 9}, Case{5, 70, 40}}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << c.rows << " N=" << c.N << " K=" << c.K);
    const auto x = randn(size_t(c.rows * c.K), 1), w = randn(size_t(c.N * c.K), 2, 0.5f),
               b = randn(size_t(c.N), 3), g = randn(size_t(c.rows * c.N), 4);
    Tensor W = Tensor::from_f32(w, {c.N, c.K}), B = Tensor::from_f32(b, {c.N});
    std::vector<float> y(size_t(c.rows * c.N));
    ops::linear(x.data(), c.rows, W, &B, y.data());
    const Vec X = to_f64(x), Wd = to_f64(w), Bd = to_f64(b), G = to_f64(g);
    expect_forward_matches(y, linear_ref(X, Wd, Bd, c.rows, c.N, c.K), "linear");
    const Vec nx =
        numeric_grad([&](const Vec& v) { return linear_ref(v, Wd, Bd, c.rows, c.N, c.K); }, X, G);
    const Vec nw =
        numeric_grad([&](const Vec& v) { return linear_ref(X, v, Bd, c.rows, c.N, c.K); }, Wd, G);
    const Vec nb =
        numeric_grad([&](const Vec& v) { return linear_ref(X, Wd, v, c.rows, c.N, c.K); }, Bd, G);
    at_thread_counts([&](int) {
      // Accumulation: start from a known value and subtract it afterwards.
      std::vector<float> dx(x.size(), 0.5f), dw(w.size(), -0.25f), db(b.size(), 1.0f);
      ops::linear_backward(x.data(), c.rows, W, g.data(), dx.data(), dw.data(), db.data());
      for (float& v : dx) v -= 0.5f;
      for (float& v : dw) v += 0.25f;
      for (float& v : db) v -= 1.0f;
      expect_close_rel(dx, nx, kTol, "dx");
      expect_close_rel(dw, nw, kTol, "dW");
      expect_close_rel(db, nb, kTol, "db");
    });
  }
}

TEST(TrainOpsGrad, LinearRejectsNonF32Weights) {
  Tensor W = Tensor::zeros(DType::BF16, {2, 3});
  std::vector<float> x(3), dy(2), dx(3);
  EXPECT_THROW(ops::linear_backward(x.data(), 1, W, dy.data(), dx.data(), nullptr, nullptr), Error);
}

// ---- layer norm -------------------------------------------------------------------------------

Vec layer_norm_ref(const Vec& x, const Vec& w, const Vec& b, int64_t rows, int64_t H, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < H; ++i) mu += x[size_t(r * H + i)];
    mu /= double(H);
    for (int64_t i = 0; i < H; ++i)
      var += (x[size_t(r * H + i)] - mu) * (x[size_t(r * H + i)] - mu);
    var /= double(H);
    for (int64_t i = 0; i < H; ++i)
      y[size_t(r * H + i)] =
          (x[size_t(r * H + i)] - mu) / std::sqrt(var + eps) * w[size_t(i)] + b[size_t(i)];
  }
  return y;
}

TEST(TrainOpsGrad, LayerNorm) {
  const float eps = 1e-5f;
  for (auto [rows, H] : {std::pair<int64_t, int64_t>{1, 3}, {3, 8}, {7, 33}, {5, 130}}) {
    SCOPED_TRACE(::testing::Message() << "rows=" << rows << " H=" << H);
    // Rows with a non-zero mean and unit-ish spread; norms around 1 with noise.
    auto x = randn(size_t(rows * H), 11, 2.0f);
    for (float& v : x) v += 0.7f;
    auto w = randn(size_t(H), 12, 0.3f);
    for (float& v : w) v += 1.0f;
    const auto b = randn(size_t(H), 13, 0.1f), g = randn(size_t(rows * H), 14);
    std::vector<float> y(x.size());
    ops::layer_norm(x.data(), rows, H, w.data(), b.data(), eps, y.data());
    const Vec X = to_f64(x), Wd = to_f64(w), Bd = to_f64(b), G = to_f64(g);
    expect_forward_matches(y, layer_norm_ref(X, Wd, Bd, rows, H, eps), "layer_norm");
    const Vec nx =
        numeric_grad([&](const Vec& v) { return layer_norm_ref(v, Wd, Bd, rows, H, eps); }, X, G);
    const Vec nw =
        numeric_grad([&](const Vec& v) { return layer_norm_ref(X, v, Bd, rows, H, eps); }, Wd, G);
    const Vec nb =
        numeric_grad([&](const Vec& v) { return layer_norm_ref(X, Wd, v, rows, H, eps); }, Bd, G);
    std::vector<float> first_dw;
    at_thread_counts([&](int t) {
      std::vector<float> dx(x.size(), 0.0f), dw(w.size(), 0.0f), db(b.size(), 0.0f);
      ops::layer_norm_backward(x.data(), rows, H, w.data(), eps, g.data(), dx.data(), dw.data(),
                               db.data());
      expect_close_rel(dx, nx, kTol, "dx");
      expect_close_rel(dw, nw, kTol, "dw");
      expect_close_rel(db, nb, kTol, "db");
      // dw/db are split over columns with rows in order: identical at every thread count.
      if (t == 1)
        first_dw = dw;
      else
        EXPECT_EQ(first_dw, dw);
    });
  }
}

// ---- gelu ---------------------------------------------------------------------------------------

Vec gelu_ref(const Vec& x) {
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
  return y;
}

TEST(TrainOpsGrad, Gelu) {
  auto x = randn(9000, 21, 2.0f);  // beyond the 4096-element chunks; includes |x| up to ~8
  x[0] = 0.0f, x[1] = -6.0f, x[2] = 6.0f;
  const auto g = randn(x.size(), 22);
  std::vector<float> y = x;
  ops::gelu(y.data(), int64_t(y.size()));
  const Vec X = to_f64(x), G = to_f64(g);
  expect_forward_matches(y, gelu_ref(X), "gelu");
  // Element-wise: the numerical gradient of each element alone (no cross terms).
  Vec nx(X.size());
  const double h = 1e-5;
  for (size_t i = 0; i < X.size(); ++i)
    nx[i] = G[i] * (gelu_ref({X[i] + h})[0] - gelu_ref({X[i] - h})[0]) / (2 * h);
  at_thread_counts([&](int) {
    std::vector<float> dx(x.size());
    ops::gelu_backward(x.data(), g.data(), dx.data(), int64_t(x.size()));
    expect_close_rel(dx, nx, kTol, "dx");
    std::vector<float> inplace = g;  // dx may alias dy
    ops::gelu_backward(x.data(), inplace.data(), inplace.data(), int64_t(x.size()));
    EXPECT_EQ(inplace, dx);
  });
}

// ---- rotary -------------------------------------------------------------------------------------

// qkv [rows, heads, 3, hd]: q and k of each head rotate (rotate-half pairs), v passes through.
Vec rotary_ref(const Vec& qkv, int64_t rows, int64_t heads, int64_t hd, int64_t rot, int64_t pos0,
               double base) {
  Vec y = qkv;
  const int64_t half = rot / 2;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int part = 0; part < 2; ++part) {
        const int64_t o = (r * heads + h) * 3 * hd + part * hd;
        for (int64_t i = 0; i < half; ++i) {
          const double a = double(pos0 + r) * std::pow(base, -double(2 * i) / double(rot));
          const double x1 = qkv[size_t(o + i)], x2 = qkv[size_t(o + i + half)];
          y[size_t(o + i)] = x1 * std::cos(a) - x2 * std::sin(a);
          y[size_t(o + i + half)] = x2 * std::cos(a) + x1 * std::sin(a);
        }
      }
  return y;
}

TEST(TrainOpsGrad, Rotary) {
  const int64_t rows = 6, heads = 2, hd = 8;
  for (int64_t rot : {0, 2, 4, 8})
    for (int64_t pos0 : {0, 37}) {
      SCOPED_TRACE(::testing::Message() << "rot=" << rot << " pos0=" << pos0);
      const auto x = randn(size_t(rows * heads * 3 * hd), 31), g = randn(x.size(), 32);
      std::vector<float> y = x;
      ops::rotary_qkv(y.data(), rows, AttentionShape{heads, heads, hd},
                      ops::default_rope(rot, 10000.0), pos0);
      const Vec X = to_f64(x), G = to_f64(g);
      expect_forward_matches(y, rotary_ref(X, rows, heads, hd, rot, pos0, 10000.0), "rotary");
      const Vec nx = numeric_grad(
          [&](const Vec& v) { return rotary_ref(v, rows, heads, hd, rot, pos0, 10000.0); }, X, G);
      at_thread_counts([&](int) {
        std::vector<float> d = g;
        ops::rotary_qkv_backward(d.data(), rows, AttentionShape{heads, heads, hd},
                                 ops::default_rope(rot, 10000.0), pos0);
        expect_close_rel(d, nx, kTol, "dqkv");
      });
    }
}

// ---- causal attention ---------------------------------------------------------------------------

// q, k, v: [T, heads·hd]; out [T, heads·hd].
Vec attention_ref(const Vec& q, const Vec& k, const Vec& v, int64_t T, int64_t heads, int64_t hd) {
  const int64_t H = heads * hd;
  Vec out(size_t(T * H), 0.0);
  Vec s(static_cast<size_t>(T));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < T; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c)
          d += q[size_t(i * H + h * hd + c)] * k[size_t(j * H + h * hd + c)];
        s[size_t(j)] = d / std::sqrt(double(hd));
        mx = std::max(mx, s[size_t(j)]);
      }
      double z = 0;
      for (int64_t j = 0; j <= i; ++j) z += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t c = 0; c < hd; ++c)
          out[size_t(i * H + h * hd + c)] += s[size_t(j)] / z * v[size_t(j * H + h * hd + c)];
    }
  return out;
}

TEST(TrainOpsGrad, CausalAttention) {
  struct Case {
    int64_t T, heads, hd;
  };
  // T = 70 straddles the 64-query blocks (the second block sees keys of the first).
  for (Case c : {Case{1, 1, 2}, Case{5, 2, 4}, Case{70, 2, 3}}) {
    SCOPED_TRACE(::testing::Message() << "T=" << c.T << " heads=" << c.heads << " hd=" << c.hd);
    const int64_t n = c.T * c.heads * c.hd;
    const auto q = randn(size_t(n), 41), k = randn(size_t(n), 42), v = randn(size_t(n), 43),
               g = randn(size_t(n), 44);
    std::vector<float> out(static_cast<size_t>(n));
    ops::causal_attention(q.data(), c.heads * c.hd, k.data(), v.data(), c.heads * c.hd, c.T, 0,
                          c.heads, c.hd, out.data());
    const Vec Q = to_f64(q), K = to_f64(k), V = to_f64(v), G = to_f64(g);
    expect_forward_matches(out, attention_ref(Q, K, V, c.T, c.heads, c.hd), "attention");
    const Vec nq = numeric_grad(
        [&](const Vec& x) { return attention_ref(x, K, V, c.T, c.heads, c.hd); }, Q, G);
    const Vec nk = numeric_grad(
        [&](const Vec& x) { return attention_ref(Q, x, V, c.T, c.heads, c.hd); }, K, G);
    const Vec nv = numeric_grad(
        [&](const Vec& x) { return attention_ref(Q, K, x, c.T, c.heads, c.hd); }, V, G);
    at_thread_counts([&](int) {
      std::vector<float> dq(size_t(n), 0.0f), dk(size_t(n), 0.0f), dv(size_t(n), 0.0f);
      ops::causal_attention_backward(q.data(), k.data(), v.data(), g.data(), c.T, c.heads, c.hd,
                                     dq.data(), dk.data(), dv.data());
      if (c.T == 1) {
        // One position: the output is v whatever q and k are; dq = dk = 0 exactly.
        for (float d : dq) EXPECT_EQ(d, 0.0f);
        for (float d : dk) EXPECT_EQ(d, 0.0f);
      } else {
        expect_close_rel(dq, nq, kTol, "dq");
        expect_close_rel(dk, nk, kTol, "dk");
      }
      expect_close_rel(dv, nv, kTol, "dv");
    });
  }
}

// ---- embedding ---------------------------------------------------------------------------------

TEST(TrainOpsGrad, Embedding) {
  const int64_t V = 7, H = 70;
  const std::vector<int32_t> ids = {3, 0, 3, 6, 3, 1};  // repeats accumulate; rows 2, 4, 5 unused
  const int64_t n = int64_t(ids.size());
  const auto E = randn(size_t(V * H), 51), g = randn(size_t(n * H), 52);
  auto embed_ref = [&](const Vec& e) {
    Vec y(size_t(n * H));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < H; ++c) y[size_t(i * H + c)] = e[size_t(ids[size_t(i)] * H + c)];
    return y;
  };
  const Vec nE = numeric_grad(embed_ref, to_f64(E), to_f64(g));
  at_thread_counts([&](int) {
    std::vector<float> dE(E.size(), 0.0f);
    ops::embedding_backward(ids.data(), n, g.data(), H, dE.data());
    expect_close_rel(dE, nE, kTol, "dE");
    for (int64_t c = 0; c < H; ++c) EXPECT_EQ(dE[size_t(2 * H + c)], 0.0f);
  });
}

// ---- cross-entropy -----------------------------------------------------------------------------

TEST(TrainOpsGrad, CrossEntropyWithMask) {
  const int64_t rows = 5, V = 11;
  auto logits = randn(size_t(rows * V), 61, 3.0f);
  logits[3] = 40.0f;  // a confident row: softmax saturates, log-sum-exp must not overflow
  const std::vector<int32_t> targets = {3, 10, 0, 7, 7};
  const std::vector<float> weights = {1.0f, 0.0f, 1.0f, 0.5f, 2.0f};
  auto ce_ref = [&](const Vec& l) {
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
      if (weights[size_t(r)] == 0.0f) continue;
      double mx = -INFINITY, z = 0;
      for (int64_t j = 0; j < V; ++j) mx = std::max(mx, l[size_t(r * V + j)]);
      for (int64_t j = 0; j < V; ++j) z += std::exp(l[size_t(r * V + j)] - mx);
      total += weights[size_t(r)] * (mx + std::log(z) - l[size_t(r * V + targets[size_t(r)])]);
    }
    return Vec{total};
  };
  const Vec L = to_f64(logits);
  const double want = ce_ref(L)[0];
  const float scale = 0.25f;  // e.g. 1 / (number of targets)
  const Vec nl = numeric_grad(ce_ref, L, Vec{double(scale)});
  at_thread_counts([&](int) {
    std::vector<float> d(logits.size(), NAN);
    const double loss =
        ops::cross_entropy(logits.data(), rows, V, targets.data(), weights.data(), d.data(), scale);
    EXPECT_NEAR(loss, want, 1e-6 * std::fabs(want));
    expect_close_rel(d, nl, kTol, "dlogits");
    for (int64_t j = 0; j < V; ++j) EXPECT_EQ(d[size_t(V + j)], 0.0f);  // masked row
  });
  std::vector<int32_t> bad = targets;
  bad[0] = int32_t(V);
  EXPECT_THROW(ops::cross_entropy(logits.data(), rows, V, bad.data(), weights.data(), nullptr, 1),
               Error);
}

// The backend's per-part losses (one part per sample in a training step): each part's value is
// the loss of its rows alone, empty parts give 0, the dlogits are those of one call over all
// rows, and malformed part starts are refused.
TEST(TrainOpsGrad, CrossEntropyParts) {
  Backend& be = cpu_backend();
  const int64_t rows = 6, V = 9;
  auto logits = randn(size_t(rows * V), 67, 2.0f);
  const std::vector<int32_t> targets = {0, 8, 4, 4, 1, 2};
  const std::vector<float> weights = {1.0f, 0.5f, 0.0f, 1.0f, 2.0f, 1.0f};
  const std::vector<int64_t> first = {0, 2, 2, 6};
  std::vector<float> d(logits.size(), NAN), d_all(logits.size(), NAN);
  const std::vector<double> parts = be.cross_entropy_parts(logits.data(), V, first, targets.data(),
                                                           weights.data(), d.data(), 0.5f);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0],
            ops::cross_entropy(logits.data(), 2, V, targets.data(), weights.data(), nullptr, 0.5f));
  EXPECT_EQ(parts[1], 0.0);
  EXPECT_EQ(parts[2], ops::cross_entropy(logits.data() + 2 * V, 4, V, targets.data() + 2,
                                         weights.data() + 2, nullptr, 0.5f));
  (void)ops::cross_entropy(logits.data(), rows, V, targets.data(), weights.data(), d_all.data(),
                           0.5f);
  EXPECT_EQ(d, d_all);
  for (const std::vector<int64_t>& bad :
       {std::vector<int64_t>{}, std::vector<int64_t>{1, 6}, std::vector<int64_t>{0, 4, 3}})
    EXPECT_THROW(be.cross_entropy_parts(logits.data(), V, bad, targets.data(), weights.data(),
                                        nullptr, 1.0f),
                 Error);
}

}  // namespace
}  // namespace rcc
