// Training side of GPT-NeoX (RCC_SPEC §1): the recording forward and the backward pass, one layer
// at a time in reverse, from the activations the forward stored (model/activations.h).
#include <algorithm>
#include <cstring>
#include <memory>

#include "model/gptneox.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/embedding_backward.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace rcc {

namespace {

float* f32_or_null(const Tensor& t) {
  return t.defined() ? t.f32() : nullptr;
}

void check_f32(const GPTNeoXWeights& w, const char* what) {
  GPTNeoXWeights copy = w;
  copy.visit("", [&](const std::string& name, Tensor& t) {
    RCC_CHECK(t.dtype() == DType::F32, what, ": tensor '", name, "' is ", dtype_name(t.dtype()),
              "; training needs F32");
  });
}

}  // namespace

void GPTNeoX::forward_train(float* x, std::span<const std::pair<int64_t, int64_t>> seqs,
                            const ForwardHooks* hooks, Activations& acts) const {
  std::vector<KVCache> caches;
  caches.reserve(seqs.size());
  std::vector<SeqSlice> slices;
  int64_t rows = 0;
  for (const auto& [begin, count] : seqs) {
    caches.emplace_back(cfg_.num_layers, cfg_.num_heads, cfg_.head_dim(), /*share_layers=*/true);
    slices.push_back({begin, count, &caches.back()});
    rows += count;
  }
  forward(x, rows, slices, hooks, &acts);
}

// Workspace per row: d_act [I] | d_ln [H] | d_res [H] | d_attn [H] | dqkv [3H] | q,k,v [3H] |
// dq,dk,dv [3H]. On entry dx is the gradient w.r.t. the layer's output (after its forward hook
// already propagated); on exit the gradient w.r.t. its input.
void GPTNeoX::layer_backward(int64_t li, const Activations& acts, float* dx, const LayerWeights& g,
                             float* work) const {
  const LayerWeights& l = w_.layers[size_t(li)];
  const LayerActivations& a = acts.layer(li);
  const int64_t rows = acts.rows(), H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const int64_t nh = cfg_.num_heads, hd = cfg_.head_dim();
  const float eps = float(cfg_.layer_norm_eps);
  float* d_act = work;
  float* d_ln = d_act + rows * I;
  float* d_res = d_ln + rows * H;
  float* d_attn = d_res + rows * H;
  float* dqkv = d_attn + rows * H;
  float* q = dqkv + rows * 3 * H;
  float* k = q + rows * H;
  float* v = k + rows * H;
  float* dq = v + rows * H;
  float* dk = dq + rows * H;
  float* dv = dk + rows * H;
  const size_t nH = size_t(rows * H) * 4;

  // MLP: out = fc_out(gelu(fc_in(ln2(x_ln2)))); its output gradient is dx in both residual styles.
  std::memset(d_act, 0, size_t(rows * I) * 4);
  ops::linear_backward(a.act, rows, l.fc_out_w, dx, d_act, g.fc_out_w.f32(), g.fc_out_b.f32());
  ops::gelu_backward(a.pre, d_act, d_act, rows * I);
  std::memset(d_ln, 0, nH);
  ops::linear_backward(a.ln2, rows, l.fc_in_w, d_act, d_ln, g.fc_in_w.f32(), g.fc_in_b.f32());
  // d_res: the residual stream's gradient. Parallel: d x_in = dx + LN2' + LN1'. Serial:
  // d x_mid = dx + LN2', the attention output's gradient is d x_mid, d x_in = d x_mid + LN1'.
  std::memcpy(d_res, dx, nH);
  const float* ln2_in = cfg_.use_parallel_residual ? a.x_in : a.x_mid;
  ops::layer_norm_backward(ln2_in, rows, H, l.ln2_w.f32(), eps, d_ln, d_res, g.ln2_w.f32(),
                           g.ln2_b.f32());
  const float* d_proj = cfg_.use_parallel_residual ? dx : d_res;

  // Attention: proj = dense(attention(rotary(qkv(ln1(x_in))))).
  std::memset(d_attn, 0, nH);
  ops::linear_backward(a.attn, rows, l.dense_w, d_proj, d_attn, g.dense_w.f32(),
                       f32_or_null(g.dense_b));
  // Split the stored (rotated) per-head q|k|v into dense [rows, H] buffers.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < nh; ++h) {
      const float* src = a.qkv + r * 3 * H + h * 3 * hd;
      std::memcpy(q + r * H + h * hd, src, size_t(hd) * 4);
      std::memcpy(k + r * H + h * hd, src + hd, size_t(hd) * 4);
      std::memcpy(v + r * H + h * hd, src + 2 * hd, size_t(hd) * 4);
    }
  std::memset(dq, 0, 3 * nH);
  for (const auto& [b, n] : acts.seqs)
    ops::causal_attention_backward(q + b * H, k + b * H, v + b * H, d_attn + b * H, n, nh, hd,
                                   dq + b * H, dk + b * H, dv + b * H);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < nh; ++h) {
      float* dst = dqkv + r * 3 * H + h * 3 * hd;
      std::memcpy(dst, dq + r * H + h * hd, size_t(hd) * 4);
      std::memcpy(dst + hd, dk + r * H + h * hd, size_t(hd) * 4);
      std::memcpy(dst + 2 * hd, dv + r * H + h * hd, size_t(hd) * 4);
    }
  for (const auto& [b, n] : acts.seqs)
    ops::rotary_qkv_backward(dqkv + b * 3 * H, n, nh, hd, cfg_.rotary_dims(), 0, cfg_.rotary_base);
  std::memset(d_ln, 0, nH);
  ops::linear_backward(a.ln1, rows, l.qkv_w, dqkv, d_ln, g.qkv_w.f32(), f32_or_null(g.qkv_b));
  ops::layer_norm_backward(a.x_in, rows, H, l.ln1_w.f32(), eps, d_ln, d_res, g.ln1_w.f32(),
                           g.ln1_b.f32());
  std::memcpy(dx, d_res, nH);
}

void GPTNeoX::backward(const Activations& acts, float* dx, const GPTNeoXWeights& grads,
                       const BackwardHooks* hooks) const {
  check_f32(w_, "backward (weights)");
  check_f32(grads, "backward (gradients)");
  RCC_CHECK(grads.layers.size() == w_.layers.size(), "backward: gradients for ",
            grads.layers.size(), " layers, model has ", w_.layers.size());
  const int64_t rows = acts.rows(), H = cfg_.hidden_size, I = cfg_.intermediate_size;
  // Final layer norm.
  std::vector<float> d(static_cast<size_t>(rows * H), 0.0f);
  ops::layer_norm_backward(acts.final_in(), rows, H, w_.final_ln_w.f32(),
                           float(cfg_.layer_norm_eps), dx, d.data(), grads.final_ln_w.f32(),
                           grads.final_ln_b.f32());
  std::memcpy(dx, d.data(), d.size() * 4);
  // Every part of the workspace is written before it is read (layer_backward): no zero fill.
  std::unique_ptr<float[]> work(new float[size_t(rows * (I + 12 * H))]);
  for (int64_t i = cfg_.num_layers - 1; i >= 0; --i) {
    if (hooks && hooks->after_layer) hooks->after_layer(i, dx, rows);
    layer_backward(i, acts, dx, grads.layers[size_t(i)], work.get());
  }
}

void GPTNeoX::logits_backward(const float* h, int64_t rows, const float* dlogits, float* dh,
                              const GPTNeoXWeights& grads) const {
  RCC_CHECK(w_.embed_out.defined() && grads.embed_out.defined(),
            "logits_backward: this model has no LM head (embed_out)");
  ops::linear_backward(h, rows, w_.embed_out, dlogits, dh, grads.embed_out.f32(), nullptr);
}

void GPTNeoX::embed_backward(const int32_t* ids, int64_t n, const float* dx,
                             const GPTNeoXWeights& grads) const {
  for (int64_t i = 0; i < n; ++i)
    RCC_CHECK(ids[i] >= 0 && ids[i] < cfg_.vocab_size, "embed_backward: token id ", ids[i],
              " outside the vocabulary");
  ops::embedding_backward(ids, n, dx, cfg_.hidden_size, grads.embed_in.f32());
}

}  // namespace rcc
