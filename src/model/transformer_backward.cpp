// Training side of the transformer (spec §1, §1.6): the recording forward and the backward pass,
// one layer at a time in reverse, from the activations the forward stored (model/activations.h).
// Written once against the backend's training ops (backend/backend.h): the CPU runs them in f32,
// CUDA in bf16 with f32 weight gradients.
#include <algorithm>
#include <cstring>

#include "model/transformer.h"

namespace rcc {

namespace {

float* f32_or_null(const Tensor& t) {
  return t.defined() ? t.f32() : nullptr;
}

// output_part_backward's workspace per row: d_act [I] (| d_pre [M] for SwiGLU) | d_ln [H].
int64_t output_work_per_row(const ModelConfig& cfg) {
  const int64_t I = cfg.intermediate_size;
  return I + (cfg.gated_mlp ? cfg.mlp_in_rows() : 0) + cfg.hidden_size;
}

// layer_backward's workspace per row: d_ln2 [H] | d_attn [Q] | scratch [max(output part,
// attention part: d_ln [H] | dqkv [QKV])].
int64_t layer_work_per_row(const ModelConfig& cfg) {
  const int64_t H = cfg.hidden_size;
  return H + cfg.q_width() + std::max(output_work_per_row(cfg), H + cfg.qkv_width());
}

// Gradients are f32 everywhere; the CPU computes with the f32 masters themselves.
void check_training_dtypes(const ModelWeights& w, const ModelWeights& grads, Backend& be) {
  ModelWeights copy = grads;
  copy.visit("", [&](const std::string& name, Tensor& t) {
    RCC_CHECK(t.dtype() == DType::F32, "backward: gradient '", name, "' is ", dtype_name(t.dtype()),
              "; gradients are F32");
  });
  if (!be.is_host()) return;
  copy = w;
  copy.visit("", [&](const std::string& name, Tensor& t) {
    RCC_CHECK(t.dtype() == DType::F32, "backward (weights): tensor '", name, "' is ",
              dtype_name(t.dtype()), "; training on the CPU needs F32");
  });
}

// The rows of a training batch whose sequences (first row, count) must tile it from row 0.
int64_t tiled_rows(std::span<const std::pair<int64_t, int64_t>> seqs, const char* what) {
  int64_t rows = 0;
  for (const auto& [begin, count] : seqs) {
    RCC_CHECK(begin == rows && count > 0, what, ": sequences must tile the batch");
    rows += count;
  }
  return rows;
}

}  // namespace

void Transformer::forward_train(void* x, std::span<const std::pair<int64_t, int64_t>> seqs,
                                const ForwardHooks* hooks, Activations& acts) const {
  const int64_t H = cfg_.hidden_size;
  const int64_t rows = tiled_rows(seqs, "forward_train");
  acts.reset(cfg_, *be_, rows);
  acts.seqs.assign(seqs.begin(), seqs.end());
  // Every part of the workspace is written before it is read (layer()): no zero fill.
  DeviceBuffer work(*be_, be_->act_bytes(rows * work_per_row()));
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    layer(i, x, rows, {}, work.get(), &acts);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  be_->copy_device(acts.final_in(), x, be_->act_bytes(rows * H));
  norm(x, rows, dw_.final_ln_w, dw_.final_ln_b, x);
}

void Transformer::forward_train_rows(void* x, std::span<const std::pair<int64_t, int64_t>> seqs,
                                     const ForwardHooks* hooks, std::span<const int64_t> keep,
                                     Activations& acts, void* out) const {
  Backend& be = *be_;
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_width(), L = cfg_.num_layers;
  const int64_t n = int64_t(keep.size());
  const int64_t rows = tiled_rows(seqs, "forward_train_rows");
  std::vector<bool> seen(size_t(rows), false);
  for (int64_t r : keep) {
    RCC_CHECK(r >= 0 && r < rows, "forward_train_rows: row ", r, " outside the batch of ", rows);
    RCC_CHECK(!seen[size_t(r)], "forward_train_rows: row ", r, " kept twice");
    seen[size_t(r)] = true;
  }
  acts.reset(cfg_, be, rows, n);
  acts.seqs.assign(seqs.begin(), seqs.end());
  acts.keep.assign(keep.begin(), keep.end());
  DeviceBuffer work(be, be.act_bytes(rows * work_per_row()));
  for (int64_t i = 0; i < L - 1; ++i) {
    layer(i, x, rows, {}, work.get(), &acts);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  // The last layer (as forward_rows): attention for every row, recorded as in layer(); the output
  // part on the kept rows, recorded at n rows (x_mid, ln2, pre, act; kx_in, kattn gathered).
  const LayerActivations& a = acts.layer(L - 1);
  be.copy_device(a.x_in, x, be.act_bytes(rows * H));
  LayerBuffers b;
  b.ln = a.ln1;
  b.qkv = a.qkv;  // rotated in place: the backward reads it
  b.attn = a.attn;
  attention_part(L - 1, x, rows, {}, b, &acts);
  if (n == 0) return;
  be.gather_rows(x, H, keep.data(), n, H, a.kx_in, H);
  be.gather_rows(a.attn, Q, keep.data(), n, Q, a.kattn, Q);
  be.copy_device(out, a.kx_in, be.act_bytes(n * H));
  LayerBuffers k;
  k.attn = a.kattn;
  k.ln2 = a.ln2;
  k.mlp = a.pre;
  k.act = a.act;
  output_part(L - 1, out, n, k, &a);
  if (hooks && hooks->after_layer) hooks->after_layer(L - 1, out, n);
  be.copy_device(acts.final_in(), out, be.act_bytes(n * H));
  norm(out, n, dw_.final_ln_w, dw_.final_ln_b, out);
}

void Transformer::norm_backward(const void* x, int64_t rows, const Tensor& w, const void* dy,
                                void* dx, const Tensor& dw, const Tensor& db) const {
  const float eps = float(cfg_.norm_eps);
  if (cfg_.rms_norm)
    be_->rms_norm_backward(x, rows, cfg_.hidden_size, w, eps, dy, dx, f32_or_null(dw));
  else
    be_->layer_norm_backward(x, rows, cfg_.hidden_size, w, eps, dy, dx, f32_or_null(dw),
                             f32_or_null(db));
}

// Residual gradients (spec §1.3 layer): dx accumulates in place, layer by layer, with no
// separate [rows, H] sum buffer. Parallel residual, y = x + attn(ln1 x) + mlp(ln2 x): the dense
// and MLP products read dx as it enters; dx += LN2'(d ln2) + LN1'(d ln1) at the end (one fused
// pass, layer_norm_pair_backward). Serial, y = m + mlp(ln2 m), m = x + attn(ln1 x): dx += LN2'
// first (dx is then d m, which the dense product reads), dx += LN1' at the end.
void Transformer::output_part_backward(int64_t li, int64_t rows, const void* x_ln2,
                                       const void* attn, const LayerActivations& a, void* dx,
                                       void* d_attn, void* d_ln2, const LayerWeights& g,
                                       void* work) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const int64_t I = cfg_.intermediate_size;
  void* d_act = work;
  // The gradient w.r.t. the MLP's input product: GELU's in place, SwiGLU's [M] apart.
  void* d_pre = cfg_.gated_mlp ? act_at(be, d_act, rows * I) : d_act;
  void* d_ln = d_ln2 ? d_ln2 : act_at(be, d_act, rows * (I + (cfg_.gated_mlp ? 2 * I : 0)));
  const bool parallel = cfg_.use_parallel_residual;
  // MLP: out = fc_out(act(fc_in(ln2(x_ln2)))); its output gradient is dx in both residual styles.
  // Parallel residual: the dense projection's output gradient is dx too (ln2's backward, which
  // changes dx, comes last), so both bias gradients are the same column sums, taken once.
  if (parallel)
    be.bias_backward(dx, rows, cfg_.hidden_size, f32_or_null(g.fc_out_b), f32_or_null(g.dense_b));
  be.linear_backward(a.act, rows, l.fc_out_w, dx, d_act, false, g.fc_out_w.f32(),
                     parallel ? nullptr : f32_or_null(g.fc_out_b));
  // fc_in's bias gradient comes with the activation's backward (the column sums of d_pre).
  if (cfg_.gated_mlp)
    be.swiglu_backward(a.pre, d_act, d_pre, rows, I, f32_or_null(g.fc_in_b));
  else
    be.gelu_backward(a.pre, d_act, d_act, rows, I, f32_or_null(g.fc_in_b));
  be.linear_backward(a.ln2, rows, l.fc_in_w, d_pre, d_ln, false, g.fc_in_w.f32(), nullptr);
  auto ln2_backward = [&] {
    if (!d_ln2) norm_backward(x_ln2, rows, l.ln2_w, d_ln, dx, g.ln2_w, g.ln2_b);
  };
  RCC_CHECK(parallel || !d_ln2, "output_part_backward: a serial layer's ln2 is not deferred");
  if (!parallel) ln2_backward();  // the dense projection's output gradient is d x_mid
  be.linear_backward(attn, rows, l.dense_w, dx, d_attn, false, g.dense_w.f32(),
                     parallel ? nullptr : f32_or_null(g.dense_b));
  if (parallel) ln2_backward();
}

void Transformer::attention_part_backward(int64_t li, const Activations& acts, const void* d_attn,
                                          const LayerWeights& g, void* work) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const LayerActivations& a = acts.layer(li);
  const int64_t rows = acts.rows(), H = cfg_.hidden_size;
  const AttentionShape sh = cfg_.attention(li);
  void* d_ln = work;
  void* dqkv = act_at(be, d_ln, rows * H);
  // proj = dense(attention(rotary(norms(qkv(ln1(x_in)))))); a.qkv holds the normed, rotated q, k.
  // dqkv: the gradients of the unrotated q and k (the rotary's backward included) and of v, then
  // of the q/k norms' input.
  be.self_attention_backward(a.qkv, a.attn, a.lse, d_attn, acts.seqs, sh, rope_, dqkv);
  if (cfg_.qk_norm)
    be.head_rms_norm_backward(a.qkv_pre, rows, sh, l.q_norm_w, l.k_norm_w, float(cfg_.norm_eps),
                              dqkv, g.q_norm_w.f32(), g.k_norm_w.f32());
  be.linear_backward(a.ln1, rows, l.qkv_w, dqkv, d_ln, false, g.qkv_w.f32(), f32_or_null(g.qkv_b));
}

// Workspace per row: layer_work_per_row (d_ln2 [H] | d_attn [H] | scratch). On entry dx
// is the gradient w.r.t. the layer's output (after its forward hook already propagated); on exit
// the gradient w.r.t. its input.
void Transformer::layer_backward(int64_t li, const Activations& acts, void* dx,
                                 const LayerWeights& g, void* work) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const LayerActivations& a = acts.layer(li);
  const int64_t rows = acts.rows(), H = cfg_.hidden_size;
  const float eps = float(cfg_.norm_eps);
  const bool parallel = cfg_.use_parallel_residual;
  void* d_ln2 = work;
  void* d_attn = act_at(be, d_ln2, rows * H);
  void* scratch = act_at(be, d_attn, rows * cfg_.q_width());
  output_part_backward(li, rows, parallel ? a.x_in : a.x_mid, a.attn, a, dx, d_attn,
                       parallel ? d_ln2 : nullptr, g, scratch);
  attention_part_backward(li, acts, d_attn, g, scratch);
  const void* d_ln1 = scratch;
  if (parallel)
    be.layer_norm_pair_backward(a.x_in, rows, H, l.ln1_w, l.ln2_w, eps, d_ln1, d_ln2, dx,
                                g.ln1_w.f32(), g.ln1_b.f32(), g.ln2_w.f32(), g.ln2_b.f32());
  else
    norm_backward(a.x_in, rows, l.ln1_w, d_ln1, dx, g.ln1_w, g.ln1_b);
}

void Transformer::backward(const Activations& acts, void* dx, const ModelWeights& grads,
                           const BackwardHooks* hooks) const {
  check_training_dtypes(dw_, grads, *be_);
  RCC_CHECK(acts.kept() < 0, "backward: the activations are of forward_train_rows (backward_rows)");
  RCC_CHECK(grads.layers.size() == dw_.layers.size(), "backward: gradients for ",
            grads.layers.size(), " layers, model has ", dw_.layers.size());
  Backend& be = *be_;
  const int64_t rows = acts.rows(), H = cfg_.hidden_size;
  const size_t xbytes = be.act_bytes(rows * H);
  // Final layer norm.
  DeviceBuffer d(be, xbytes);
  be.zero(d.get(), xbytes);
  norm_backward(acts.final_in(), rows, dw_.final_ln_w, dx, d.get(), grads.final_ln_w,
                grads.final_ln_b);
  be.copy_device(dx, d.get(), xbytes);
  d.reset();
  // Every part of the workspace is written before it is read (layer_backward): no zero fill.
  DeviceBuffer work(be, be.act_bytes(rows * layer_work_per_row(cfg_)));
  for (int64_t i = cfg_.num_layers - 1; i >= 0; --i) {
    if (hooks && hooks->after_layer) hooks->after_layer(i, dx, rows);
    layer_backward(i, acts, dx, grads.layers[size_t(i)], work.get());
  }
}

void Transformer::backward_rows(const Activations& acts, const void* dout, void* dx,
                                const ModelWeights& grads, const BackwardHooks* hooks) const {
  check_training_dtypes(dw_, grads, *be_);
  RCC_CHECK(acts.kept() >= 0, "backward_rows: the activations are not of forward_train_rows");
  RCC_CHECK(grads.layers.size() == dw_.layers.size(), "backward_rows: gradients for ",
            grads.layers.size(), " layers, model has ", dw_.layers.size());
  Backend& be = *be_;
  const int64_t rows = acts.rows(), n = acts.kept(), L = cfg_.num_layers;
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_width();
  DeviceBuffer work(be, be.act_bytes(rows * layer_work_per_row(cfg_)));
  void* d_attn = work.get();
  void* scratch = act_at(be, d_attn, rows * Q);
  be.zero(d_attn, be.act_bytes(rows * Q));  // zero off the kept rows
  // dx [rows, H] accumulates the last layer's input gradient: the kept rows' residual and ln2
  // part, then ln1's for every row. dout is read (by the final norm's backward) before dx is
  // cleared.
  DeviceBuffer kept;
  void* dk = nullptr;
  if (n > 0) {
    // The kept rows: final layer norm, then the last layer's output part; their gradients enter
    // the attention part (every row) at the kept rows.
    kept = DeviceBuffer(be, be.act_bytes(n * (H + Q + output_work_per_row(cfg_))));
    dk = kept.get();
    void* dk_attn = act_at(be, dk, n * H);
    void* kscratch = act_at(be, dk_attn, n * Q);  // output_part_backward's workspace
    be.zero(dk, be.act_bytes(n * H));
    norm_backward(acts.final_in(), n, dw_.final_ln_w, dout, dk, grads.final_ln_w, grads.final_ln_b);
    if (hooks && hooks->after_layer) hooks->after_layer(L - 1, dk, n);
    const LayerActivations& a = acts.layer(L - 1);
    output_part_backward(L - 1, n, cfg_.use_parallel_residual ? a.kx_in : a.x_mid, a.kattn, a, dk,
                         dk_attn, nullptr, grads.layers[size_t(L - 1)], kscratch);
    be.scatter_add_rows(dk_attn, acts.keep.data(), n, Q, d_attn);
  }
  be.zero(dx, be.act_bytes(rows * H));
  if (n > 0) be.scatter_add_rows(dk, acts.keep.data(), n, H, dx);
  kept.reset();
  attention_part_backward(L - 1, acts, d_attn, grads.layers[size_t(L - 1)], scratch);
  norm_backward(acts.layer(L - 1).x_in, rows, dw_.layers[size_t(L - 1)].ln1_w, scratch, dx,
                grads.layers[size_t(L - 1)].ln1_w, grads.layers[size_t(L - 1)].ln1_b);
  for (int64_t i = L - 2; i >= 0; --i) {
    if (hooks && hooks->after_layer) hooks->after_layer(i, dx, rows);
    layer_backward(i, acts, dx, grads.layers[size_t(i)], work.get());
  }
}

void Transformer::logits_device(const void* h, int64_t rows, float* out) const {
  RCC_CHECK(dw_.embed_out.defined(), "logits: this model has no LM head (embed_out)");
  be_->linear_f32(h, rows, dw_.embed_out, out);
}

void Transformer::logits_backward(const void* h, int64_t rows, const void* dlogits, void* dh,
                                  const ModelWeights& grads) const {
  RCC_CHECK(dw_.embed_out.defined() && grads.embed_out.defined(),
            "logits_backward: this model has no LM head (embed_out)");
  be_->linear_backward(h, rows, dw_.embed_out, dlogits, dh, true, grads.embed_out.f32(), nullptr);
}

void Transformer::embed_backward(const int32_t* ids, int64_t n, const void* dx,
                                 const ModelWeights& grads) const {
  for (int64_t i = 0; i < n; ++i)
    RCC_CHECK(ids[i] >= 0 && ids[i] < cfg_.vocab_size, "embed_backward: token id ", ids[i],
              " outside the vocabulary");
  be_->embedding_backward(ids, n, dx, cfg_.hidden_size, grads.embed_in.f32());
}

}  // namespace rcc
