// The training forward/backward of whole models (RCC on GPT-NeoX, parallel and serial, and on the
// Llama family: Qwen3-shaped with grouped-query attention, q/k norms and head_dim != H/heads, and
// Llama with attention and MLP biases and Llama 3 rotary scaling) on tiny random f32 models:
// - recording activations does not change the forward (bit for bit);
// - the kept-rows pass (the encoder's: last layer's output part on the slot rows) equals the full
//   pass at those rows, gradients included;
// - the RCC loss gradient of every parameter tensor against central finite differences of the loss
//   itself (f32 model, so along directions, not per element): for each tensor T with gradient g_T,
//   along d = g_T/|g_T| and along a random unit direction r,
//     |(J(θ + εd) − J(θ − εd)) / 2ε − g_T·d| ≤ 1e-2 · |g_T|,  ε = 1e-2 (observed ≤ 1.3e-3).
//   Why 1e-2: J is a sum of 18 cross-entropies (~70 nats); its f32 evaluation noise is ~1e-6
//   relative (~1e-4 absolute) → 5e-3 after dividing by 2ε at worst; the O(ε²) truncation term adds
//   ~1e-3 relative. A wrong gradient term (a transposed index, a missing injection or slot path)
//   gives errors of order |g_T|. The exact comparison against PyTorch is
//   tests/train_reference_test.cpp;
// - batching: the gradient of a batch equals the sum of the per-sample gradients, and its loss the
//   sum of their losses (≤ 1e-5 relative: only summation order differs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "model/init.h"
#include "rcc/rcc_init.h"
#include "train/rcc_step.h"

namespace rcc {
namespace {

// Variants: 0 GPT-NeoX parallel residual, 1 GPT-NeoX serial, 2 Qwen3-shaped, 3 Llama with biases.
constexpr int kVariants[] = {0, 1, 2, 3};
ModelConfig tiny_config(int variant) {
  ModelConfig c;
  c.vocab_size = 37;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 2;
  c.intermediate_size = 24;
  c.rotary_pct = 0.5;
  c.use_parallel_residual = variant == 0;
  if (variant >= 2) {
    c.model_type = variant == 2 ? "qwen3" : "llama";
    c.rms_norm = c.gated_mlp = true;
    c.rotary_pct = 1.0;
    c.norm_eps = 1e-6;
    c.qkv_bias = c.out_bias = c.mlp_bias = variant == 3;
  }
  if (variant == 2) {  // 4 query heads of 8 over 2 key/value heads: q width 32 != H
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim_override = 8;
    c.qk_norm = true;
  }
  if (variant == 3) {
    c.rope_scaling.type = RopeScaling::Type::Llama3;
    c.rope_scaling.factor = 4;
    c.rope_scaling.original_max_position_embeddings = 16;
  }
  return c;
}

// Parameter tensors of one network of `c` (with its LM head), counted from the config.
int tensors_per_network(const ModelConfig& c) {
  const int norm = c.rms_norm ? 1 : 2;
  const int layer = 2 * norm + 1 + c.qkv_bias + 1 + c.out_bias + 2 * c.qk_norm + 2 + 2 * c.mlp_bias;
  return 1 + int(c.num_layers) * layer + norm + 1;
}

RCCSettings tiny_settings() {
  RCCSettings s;
  s.window = 8;
  s.ratio = 4;
  s.mode = WindowMode::Aligned;
  s.memory_dtype = DType::F32;
  return s;
}

std::vector<int32_t> random_ids(size_t n, int64_t V, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = int32_t(rng() % uint32_t(V));
  return v;
}

// Three samples: a context of 19 tokens (windows of 8, 8, 3 → 2 + 2 + 1 slots) with a masked cue,
// a context of 5 tokens (2 slots), and a plain language-model sample (no context).
std::vector<Sample> tiny_batch(int64_t V) {
  std::vector<Sample> b(3);
  b[0].context = random_ids(19, V, 1);
  b[0].tokens = random_ids(7, V, 2);
  b[0].weights = {0, 0, 1, 1, 1, 1, 1};
  b[1].context = random_ids(5, V, 3);
  b[1].tokens = random_ids(6, V, 4);
  b[1].weights = {1, 1, 1, 0, 1, 1};
  b[2].tokens = random_ids(9, V, 5);
  b[2].weights = {0, 1, 1, 1, 1, 1, 1, 1, 1};
  return b;
}

RCCModel tiny_model(int variant, uint64_t seed) {
  RCCModel m = init_random_rcc(tiny_config(variant), tiny_settings(), DType::F32, seed);
  // Non-trivial layer norms and biases (init gives 1 and 0), larger weights so that the loss
  // depends strongly on every parameter.
  auto perturb = [&](ModelWeights w, uint64_t s) {
    std::mt19937 rng{static_cast<uint32_t>(s)};
    std::normal_distribution<float> n(0.0f, 1.0f);
    w.visit("", [&](const std::string& name, Tensor& t) {
      const bool norm = name.find("norm") != std::string::npos;
      const bool bias = name.size() > 4 && name.substr(name.size() - 4) == "bias";
      float* p = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (norm && !bias)
          p[i] = 1.0f + 0.2f * n(rng);
        else if (bias)
          p[i] = 0.1f * n(rng);
        else
          p[i] = 0.3f * n(rng);
      }
    });
  };
  perturb(m.encoder.weights(), seed + 10);
  perturb(m.decoder.weights(), seed + 20);
  return m;
}

TEST(TrainModelGrad, RecordingForwardIsIdentical) {
  for (int variant : kVariants) {
    ModelConfig cfg = tiny_config(variant);
    Transformer model(cfg, init_random_weights(cfg, DType::F32, 3, 0.3f));
    const int64_t H = cfg.hidden_size;
    const auto ids = random_ids(30, cfg.vocab_size, 9);
    std::vector<float> a(ids.size() * size_t(H)), b(a.size());
    model.embed(ids.data(), int64_t(ids.size()), a.data());
    b = a;
    // Two sequences of 12 and 18 rows.
    KVCache c1 = model.new_cache(), c2 = model.new_cache();
    SeqSlice s[2] = {{0, 12, &c1}, {12, 18, &c2}};
    model.forward(a.data(), 30, s);
    Activations acts;
    const std::pair<int64_t, int64_t> seqs[2] = {{0, 12}, {12, 18}};
    model.forward_train(b.data(), seqs, nullptr, acts);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "variant " << variant;
    EXPECT_EQ(acts.rows(), 30);
  }
}

// The kept-rows training pass (the RCC encoder's: the last layer's dense projection and MLP on the
// slot rows only) against the full pass: the output at the kept rows, and the input gradient and
// every parameter gradient when the output gradient is zero off the kept rows. Tolerance 1e-5
// (relative to each tensor's largest entry): the same f32 arithmetic, only matrix products over
// fewer rows (other blocking, other summation order of the weight gradients).
TEST(TrainModelGrad, KeptRowsPassEqualsTheFullPass) {
  for (int variant : kVariants) {
    ModelConfig cfg = tiny_config(variant);
    Transformer model(cfg, init_random_weights(cfg, DType::F32, 5, 0.3f));
    const int64_t H = cfg.hidden_size, rows = 30;
    const auto ids = random_ids(size_t(rows), cfg.vocab_size, 11);
    const std::pair<int64_t, int64_t> seqs[2] = {{0, 12}, {12, 18}};
    const std::vector<int64_t> keep = {11, 3, 29, 12, 20};
    const int64_t n = int64_t(keep.size());
    std::vector<float> x_full(size_t(rows * H)), x_rows(x_full.size()), out(size_t(n * H));
    model.embed(ids.data(), rows, x_full.data());
    x_rows = x_full;
    Activations full, kept;
    model.forward_train(x_full.data(), seqs, nullptr, full);
    model.forward_train_rows(x_rows.data(), seqs, nullptr, keep, kept, out.data());
    auto max_abs = [](const float* p, size_t m) {
      float r = 0;
      for (size_t i = 0; i < m; ++i) r = std::max(r, std::fabs(p[i]));
      return r;
    };
    const float scale = max_abs(x_full.data(), x_full.size());
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < H; ++c)
        ASSERT_NEAR(out[size_t(j * H + c)], x_full[size_t(keep[size_t(j)] * H + c)], 1e-5 * scale)
            << "variant " << variant << " kept row " << j;

    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> dout(out.size()), dx_full(x_full.size(), 0.0f), dx_rows(x_full.size());
    for (auto& v : dout) v = nd(rng);
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(&dx_full[size_t(keep[size_t(j)] * H)], &dout[size_t(j * H)], size_t(H) * 4);
    auto zero_grads = [&] {
      ModelWeights g = init_random_weights(cfg, DType::F32, 1, 0.0f);
      g.visit("", [](const std::string&, Tensor& t) { std::memset(t.raw(), 0, t.nbytes()); });
      return g;
    };
    ModelWeights g_full = zero_grads(), g_rows = zero_grads();
    model.backward(full, dx_full.data(), g_full);
    model.backward_rows(kept, dout.data(), dx_rows.data(), g_rows);
    const float dscale = max_abs(dx_full.data(), dx_full.size());
    for (size_t i = 0; i < dx_full.size(); ++i)
      ASSERT_NEAR(dx_rows[i], dx_full[i], 1e-5 * dscale) << "variant " << variant << " dx " << i;
    std::vector<std::pair<std::string, Tensor>> a, b;
    g_full.visit("", [&](const std::string& name, Tensor& t) { a.emplace_back(name, t); });
    g_rows.visit("", [&](const std::string& name, Tensor& t) { b.emplace_back(name, t); });
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      const float* p = a[k].second.f32();
      const float* q = b[k].second.f32();
      const size_t m = size_t(a[k].second.numel());
      const float gs = std::max(max_abs(p, m), 1e-12f);
      for (size_t i = 0; i < m; ++i)
        ASSERT_NEAR(q[i], p[i], 1e-5 * gs) << "variant " << variant << " " << a[k].first;
    }
    // Kept rows must be distinct (their gradients are scattered back), and the full backward
    // refuses kept-rows activations.
    std::vector<float> x2(x_full.size());
    const std::vector<int64_t> twice = {3, 3};
    EXPECT_THROW(model.forward_train_rows(x2.data(), seqs, nullptr, twice, kept, out.data()),
                 Error);
    model.forward_train_rows(x_rows.data(), seqs, nullptr, keep, kept, out.data());
    EXPECT_THROW(model.backward(kept, dx_full.data(), g_full), Error);
  }
}

double loss_of(TrainableRCC& tm, const std::vector<Sample>& batch) {
  StepOptions o;
  o.backward = false;
  return rcc_forward_backward(tm, batch, o).loss_sum;
}

TEST(TrainModelGrad, RCCGradientsAgainstFiniteDifferences) {
  for (int variant : kVariants) {
    SCOPED_TRACE(::testing::Message() << "variant " << variant);
    TrainableRCC tm(tiny_model(variant, 7));
    const auto batch = tiny_batch(tm.model().decoder.config().vocab_size);
    tm.zero_grad();
    StepOptions o;
    const StepStats st = rcc_forward_backward(tm, batch, o);
    EXPECT_EQ(st.target_weight, 5 + 5 + 8);
    EXPECT_EQ(st.encoder_tokens, 19 + 5);
    EXPECT_EQ(st.decoder_rows, (5 + 7) + (2 + 6) + 9);
    const Tensor grads = tm.gradients().clone();
    const float* gflat = grads.f32();
    float* theta = tm.values().f32();
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const double eps = 1e-2;
    int checked = 0;
    for (const ParamEntry& e : tm.layout().entries()) {
      const float* g = gflat + e.offset;
      double gnorm = 0;
      for (int64_t i = 0; i < e.numel; ++i) gnorm += double(g[i]) * g[i];
      gnorm = std::sqrt(gnorm);
      ASSERT_GT(gnorm, 1e-3) << e.name << ": zero gradient (the parameter does not reach the loss)";
      std::vector<double> rnd(size_t(e.numel));
      double rn = 0;
      for (double& r : rnd) {
        r = nd(rng);
        rn += r * r;
      }
      for (double& r : rnd) r /= std::sqrt(rn);
      for (int dir = 0; dir < 2; ++dir) {
        std::vector<double> d(size_t(e.numel));
        double gd = 0;
        for (int64_t i = 0; i < e.numel; ++i) {
          d[size_t(i)] = dir == 0 ? g[i] / gnorm : rnd[size_t(i)];
          gd += double(g[i]) * d[size_t(i)];
        }
        std::vector<float> saved(theta + e.offset, theta + e.offset + e.numel);
        for (int64_t i = 0; i < e.numel; ++i)
          theta[e.offset + i] = float(saved[size_t(i)] + eps * d[size_t(i)]);
        const double lp = loss_of(tm, batch);
        for (int64_t i = 0; i < e.numel; ++i)
          theta[e.offset + i] = float(saved[size_t(i)] - eps * d[size_t(i)]);
        const double lm = loss_of(tm, batch);
        std::copy(saved.begin(), saved.end(), theta + e.offset);
        const double fd = (lp - lm) / (2 * eps);
        EXPECT_LE(std::fabs(fd - gd), 1e-2 * gnorm)
            << e.name << (dir == 0 ? " along its gradient" : " along a random direction")
            << ": finite difference " << fd << ", backward " << gd << ", |g| " << gnorm;
        ++checked;
      }
    }
    // decoder + E + 2 A + encoder (no head); GPT-NeoX: 2 layers × 12 + embed, final norm ×2, head
    const int net = tensors_per_network(tm.model().decoder.config());
    EXPECT_EQ(checked, 2 * (net + 1 + 2 + (net - 1)));
    if (variant == 0) {
      EXPECT_EQ(net, 1 + 24 + 2 + 1);
    }
  }
}

TEST(TrainModelGrad, BatchEqualsSumOfSamples) {
  TrainableRCC tm(tiny_model(0, 8));
  const auto batch = tiny_batch(tm.model().decoder.config().vocab_size);
  tm.zero_grad();
  const StepStats all = rcc_forward_backward(tm, batch, {});
  const double loss_all = all.loss_sum;
  const std::vector<float> g_all = tm.gradients().to_vector();
  tm.zero_grad();
  double loss_sum = 0;
  ASSERT_EQ(all.sample_loss.size(), batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const double one = rcc_forward_backward(tm, {&batch[b], 1}, {}).loss_sum;
    // Each sample's loss inside the batch is its loss alone (the per-task losses of the log).
    EXPECT_NEAR(all.sample_loss[b], one, 1e-5 * one) << "sample " << b;
    loss_sum += one;
  }
  const std::vector<float> g_sum = tm.gradients().to_vector();
  EXPECT_NEAR(loss_all, loss_sum, 1e-5 * loss_sum);
  double mx = 0, err = 0;
  for (size_t i = 0; i < g_all.size(); ++i) {
    mx = std::max(mx, std::fabs(double(g_sum[i])));
    err = std::max(err, std::fabs(double(g_all[i]) - g_sum[i]));
  }
  EXPECT_LE(err, 1e-5 * mx);
  // loss_scale scales every gradient.
  tm.zero_grad();
  StepOptions o;
  o.loss_scale = 0.5f;
  rcc_forward_backward(tm, batch, o);
  const std::vector<float> g_half = tm.gradients().to_vector();
  for (size_t i = 0; i < g_all.size(); i += 97) EXPECT_NEAR(g_half[i], 0.5f * g_all[i], 1e-6 * mx);
}

TEST(TrainModelGrad, RejectsBadSamples) {
  TrainableRCC tm(tiny_model(0, 9));
  Sample s;
  s.tokens = {1, 2, 3};
  s.weights = {1, 1, 1};  // token 0 has no row before it (no context)
  EXPECT_THROW(rcc_forward_backward(tm, {&s, 1}, {}), Error);
  s.weights = {0, 1};
  EXPECT_THROW(rcc_forward_backward(tm, {&s, 1}, {}), Error);
  s.weights = {0, 1, 1};
  s.tokens[2] = 1000;
  EXPECT_THROW(rcc_forward_backward(tm, {&s, 1}, {}), Error);
}

}  // namespace
}  // namespace rcc
