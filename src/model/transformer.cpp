#include "model/transformer.h"

#include <cstring>
#include <memory>
#include <set>

namespace rcc {

namespace {

// The weights as backend `be` computes with them (the CPU: the same tensors, shared storage);
// `fp8_linear`: the layers' linear matrices in the backend's FP8 form.
ModelWeights prepare_weights(const ModelWeights& w, Backend& be, bool fp8_linear) {
  ModelWeights out = w;
  if (be.is_host() && !fp8_linear) return out;
  std::set<const Tensor*> fp8;  // the layers' linear matrices, when they go to FP8
  if (fp8_linear)
    for (LayerWeights& l : out.layers) fp8.insert({&l.qkv_w, &l.dense_w, &l.fc_in_w, &l.fc_out_w});
  out.visit("", [&](const std::string&, Tensor& t) {
    t = fp8.count(&t) ? be.prepare_weight_fp8(t) : be.prepare_weight(t);
  });
  return out;
}

}  // namespace

Transformer::Transformer(ModelConfig cfg, ModelWeights w, Backend& be, bool fp8_linear)
    : cfg_(std::move(cfg)), w_(std::move(w)), be_(&be), fp8_linear_(fp8_linear) {
  RCC_CHECK(int64_t(w_.layers.size()) == cfg_.num_layers, "Transformer: ", w_.layers.size(),
            " layers of weights for a config of ", cfg_.num_layers);
  check_config();
  dw_ = prepare_weights(w_, be, fp8_linear);
  rope_ = cfg_.rope();
}

void Transformer::check_config() const {
  RCC_CHECK(cfg_.num_heads > 0 && cfg_.kv_heads() > 0 && cfg_.num_heads % cfg_.kv_heads() == 0 &&
                (cfg_.llama_family() ||
                 (cfg_.kv_heads() == cfg_.num_heads && cfg_.head_dim_override == 0)),
            "Transformer: ", cfg_.num_heads, " query heads over ", cfg_.kv_heads(),
            " key/value heads (head_dim ", cfg_.head_dim(), ") do not fit a ", cfg_.model_type,
            " model");
}

Transformer::Transformer(ModelConfig cfg, ModelWeights host, ModelWeights prepared, Backend& be)
    : cfg_(std::move(cfg)), w_(std::move(host)), be_(&be), dw_(std::move(prepared)) {
  RCC_CHECK(
      int64_t(w_.layers.size()) == cfg_.num_layers && int64_t(dw_.layers.size()) == cfg_.num_layers,
      "Transformer: ", w_.layers.size(), " layers of weights for a config of ", cfg_.num_layers);
  check_config();
  rope_ = cfg_.rope();
}

void Transformer::norm(const void* x, int64_t rows, const Tensor& w, const Tensor& b,
                       void* y) const {
  if (cfg_.rms_norm)
    be_->rms_norm(x, rows, cfg_.hidden_size, w, float(cfg_.norm_eps), y);
  else
    be_->layer_norm(x, rows, cfg_.hidden_size, w, b, float(cfg_.norm_eps), y);
}

int64_t Transformer::work_per_row() const {
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_width();
  return H + cfg_.qkv_width() + 2 * Q + cfg_.mlp_in_rows() +
         (cfg_.gated_mlp ? cfg_.intermediate_size : 0);
}

void Transformer::embed(const int32_t* ids, int64_t n, void* out) const {
  const int64_t V = cfg_.vocab_size;
  for (int64_t i = 0; i < n; ++i)
    RCC_CHECK(ids[i] >= 0 && ids[i] < V, "token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", V, ")");
  be_->embed(dw_.embed_in, ids, n, out);
}

// Workspace per row (activation elements, work_per_row()): ln [H] | qkv [QKV] | q [Q] |
// attn [Q] | mlp [M] (| act [I] for SwiGLU)
void Transformer::layer(int64_t li, void* x, int64_t rows, std::span<const SeqSlice> seqs,
                        void* work, const Activations* acts) const {
  Backend& be = *be_;
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_width();
  const size_t xbytes = be.act_bytes(rows * H);
  LayerBuffers b;
  b.ln = work;
  b.qkv = act_at(be, b.ln, rows * H);
  b.q = act_at(be, b.qkv, rows * cfg_.qkv_width());
  b.attn = act_at(be, b.q, rows * Q);
  b.mlp = act_at(be, b.attn, rows * Q);
  b.ln2 = b.ln;  // post_attention_layernorm output
  // GELU in place unless recording; SwiGLU into its own buffer.
  b.act = cfg_.gated_mlp ? act_at(be, b.mlp, rows * cfg_.mlp_in_rows()) : b.mlp;
  const LayerActivations* a = acts ? &acts->layer(li) : nullptr;
  if (a) {  // training: intermediate results go to the activation store
    b.ln = a->ln1;
    b.qkv = a->qkv;
    b.attn = a->attn;
    b.ln2 = a->ln2;
    b.mlp = a->pre;
    b.act = a->act;
    if (cfg_.use_parallel_residual) {  // both norms of x and its record in one pass
      const LayerWeights& l = dw_.layers[size_t(li)];
      be.layer_norm_pair(x, rows, H, l.ln1_w, l.ln1_b, l.ln2_w, l.ln2_b, float(cfg_.norm_eps), b.ln,
                         b.ln2, a->x_in);
      b.normed = true;
    } else {
      be.copy_device(a->x_in, x, xbytes);
    }
  }
  attention_part(li, x, rows, seqs, b, acts);
  output_part(li, x, rows, b, a);
}

// Attention block: ln1 -> fused qkv (-> per-head q/k norms) -> rotary -> causal attention
// (against the cache, or within each recorded sequence when training) into b.attn [rows, Q].
void Transformer::attention_part(int64_t li, const void* x, int64_t rows,
                                 std::span<const SeqSlice> seqs, const LayerBuffers& b,
                                 const Activations* acts) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const AttentionShape sh = cfg_.attention(li);
  if (!b.normed) norm(x, rows, l.ln1_w, l.ln1_b, b.ln);
  be.linear(b.ln, rows, l.qkv_w, l.qkv_b.defined() ? &l.qkv_b : nullptr, b.qkv, false);
  if (cfg_.qk_norm) {
    if (acts)  // the norms' input, for their backward
      be.copy_device(acts->layer(li).qkv_pre, b.qkv, be.act_bytes(rows * sh.qkv_width()));
    be.head_rms_norm(b.qkv, rows, sh, l.q_norm_w, l.k_norm_w, float(cfg_.norm_eps));
  }
  if (acts) {
    const LayerActivations& a = acts->layer(li);
    // Every sequence of the batch at once (positions from 0 in each), on the qkv product as it
    // lies (b.qkv is the activation store's a.qkv): rotated in place, then attention.
    be.rotary_qkv(b.qkv, acts->seqs, sh, rope_, false);
    be.self_attention(b.qkv, acts->seqs, sh, b.attn, a.lse);
  } else {
    // Every sequence against its own cache (positions from its length; a shared prefix is read
    // once for the sequences that share it where the backend can).
    be.qkv_to_cache_batch(b.qkv, seqs, sh, rope_, li, b.q);
    be.attention_batch(b.q, seqs, li, sh, b.attn);
  }
}

// Dense projection of b.attn and the MLP block, added to x [rows, H]; parallel residual:
// x + attn(ln1 x) + mlp(ln2 x); serial: mlp sees x + attn. Row-wise: any subset of a layer's
// rows can go through it on its own (forward_rows).
void Transformer::output_part(int64_t li, void* x, int64_t rows, const LayerBuffers& b,
                              const LayerActivations* a) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const Tensor* dense_b = l.dense_b.defined() ? &l.dense_b : nullptr;
  // Both products accumulate straight into x (no [rows, H] sum buffer, no separate addition
  // pass). Parallel: ln2 reads x before either lands (b.ln2 may alias ln1's output, which the
  // fused qkv product has consumed). Serial: ln2 reads x + attn.
  if (cfg_.use_parallel_residual) {
    if (!b.normed) norm(x, rows, l.ln2_w, l.ln2_b, b.ln2);
    be.linear(b.attn, rows, l.dense_w, dense_b, x, /*accumulate=*/true);
  } else {
    be.linear(b.attn, rows, l.dense_w, dense_b, x, /*accumulate=*/true);
    if (a) be.copy_device(a->x_mid, x, be.act_bytes(rows * H));
    norm(x, rows, l.ln2_w, l.ln2_b, b.ln2);
  }
  const Tensor* fc_in_b = l.fc_in_b.defined() ? &l.fc_in_b : nullptr;
  const Tensor* fc_out_b = l.fc_out_b.defined() ? &l.fc_out_b : nullptr;
  be.linear(b.ln2, rows, l.fc_in_w, fc_in_b, b.mlp, false);
  if (cfg_.gated_mlp)
    be.swiglu(b.mlp, rows, I, b.act);
  else
    be.gelu(b.mlp, b.act, rows * I);  // out of place when training keeps the pre-activation
  be.linear(b.act, rows, l.fc_out_w, fc_out_b, x, /*accumulate=*/true);
}

void Transformer::check_seqs(int64_t rows, std::span<const SeqSlice> seqs) const {
  int64_t covered = 0;
  for (const SeqSlice& s : seqs) {
    RCC_CHECK(s.cache && s.begin == covered && s.count > 0,
              "forward: sequences must tile the batch");
    RCC_CHECK(s.cache->layers() == cfg_.num_layers && s.cache->width() == cfg_.kv_width(),
              "forward: KV cache of another model shape");
    RCC_CHECK(&s.cache->backend() == be_, "forward: KV cache on ", s.cache->backend().name(),
              ", model on ", be_->name());
    RCC_CHECK(!s.cache->shared_layers() || s.cache->length() == 0,
              "forward: a layer-shared scratch cache only serves one pass from position 0");
    s.cache->reserve(s.cache->length() + s.count);
    covered += s.count;
  }
  RCC_CHECK(covered == rows, "forward: sequences cover ", covered, " of ", rows, " rows");
}

void Transformer::forward(void* x, int64_t rows, std::span<const SeqSlice> seqs,
                          const ForwardHooks* hooks) const {
  check_seqs(rows, seqs);
  // Every part of the workspace is written before it is read (layer()): no zero fill.
  DeviceBuffer work(*be_, be_->act_bytes(rows * work_per_row()));
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    layer(i, x, rows, seqs, work.get(), nullptr);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  for (const SeqSlice& s : seqs) s.cache->advance(s.count);
  norm(x, rows, dw_.final_ln_w, dw_.final_ln_b, x);
}

void Transformer::forward_rows(void* x, int64_t rows, std::span<const SeqSlice> seqs,
                               const ForwardHooks* hooks, std::span<const int64_t> keep,
                               void* out) const {
  Backend& be = *be_;
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_width(), L = cfg_.num_layers;
  const int64_t M = cfg_.mlp_in_rows(), A = cfg_.gated_mlp ? cfg_.intermediate_size : 0;
  const int64_t n = int64_t(keep.size());
  for (int64_t r : keep)
    RCC_CHECK(r >= 0 && r < rows, "forward_rows: row ", r, " outside the batch of ", rows);
  check_seqs(rows, seqs);
  DeviceBuffer work(be, be.act_bytes(rows * work_per_row()));
  for (int64_t i = 0; i < L - 1; ++i) {
    layer(i, x, rows, seqs, work.get(), nullptr);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  // The last layer: keys and values (hence ln1, qkv and attention) for every row, since the kept
  // rows attend to all earlier ones; the dense projection, the MLP and the final norm only for
  // the kept rows (out = x[keep], then the layer's output part).
  LayerBuffers b;
  b.ln = work.get();
  b.qkv = act_at(be, b.ln, rows * H);
  b.q = act_at(be, b.qkv, rows * cfg_.qkv_width());
  b.attn = act_at(be, b.q, rows * Q);
  attention_part(L - 1, x, rows, seqs, b, nullptr);
  for (const SeqSlice& s : seqs) s.cache->advance(s.count);
  if (n == 0) return;
  // The kept rows' workspace: attn [n, Q] | ln2 [n, H] | mlp [n, M] (| act [n, I]).
  DeviceBuffer kept(be, be.act_bytes(n * (Q + H + M + A)));
  LayerBuffers k;
  k.attn = kept.get();
  k.ln = k.ln2 = act_at(be, k.attn, n * Q);
  k.mlp = act_at(be, k.ln2, n * H);
  k.act = A ? act_at(be, k.mlp, n * M) : k.mlp;
  be.gather_rows(x, H, keep.data(), n, H, out, H);
  be.gather_rows(b.attn, Q, keep.data(), n, Q, k.attn, Q);
  output_part(L - 1, out, n, k, nullptr);
  if (hooks && hooks->after_layer) hooks->after_layer(L - 1, out, n);
  norm(out, n, dw_.final_ln_w, dw_.final_ln_b, out);
}

void Transformer::logits(const void* h, int64_t rows, float* out) const {
  RCC_CHECK(dw_.embed_out.defined(), "logits: this model has no LM head (embed_out)");
  be_->linear_f32_host(h, rows, dw_.embed_out, out);
}

std::vector<float> Transformer::forward_logits(const std::vector<int32_t>& ids,
                                               KVCache& cache) const {
  const int64_t n = int64_t(ids.size()), H = cfg_.hidden_size;
  RCC_CHECK(n > 0, "forward_logits: no tokens");
  DeviceBuffer x(*be_, be_->act_bytes(n * H));
  embed(ids.data(), n, x.get());
  SeqSlice s{0, n, &cache};
  forward(x.get(), n, {&s, 1});
  std::vector<float> out(static_cast<size_t>(n * cfg_.vocab_size));
  logits(x.get(), n, out.data());
  return out;
}

}  // namespace rcc
