#include "model/gptneox.h"

#include <cstring>
#include <memory>

namespace rcc {

namespace {

// The weights as backend `be` computes with them (the CPU: the same tensors, shared storage).
GPTNeoXWeights prepare_weights(const GPTNeoXWeights& w, Backend& be) {
  GPTNeoXWeights out = w;
  if (be.is_host()) return out;
  out.visit("", [&](const std::string&, Tensor& t) { t = be.prepare_weight(t); });
  return out;
}

}  // namespace

GPTNeoX::GPTNeoX(GPTNeoXConfig cfg, GPTNeoXWeights w, Backend& be)
    : cfg_(std::move(cfg)), w_(std::move(w)), be_(&be) {
  RCC_CHECK(int64_t(w_.layers.size()) == cfg_.num_layers, "GPTNeoX: ", w_.layers.size(),
            " layers of weights for a config of ", cfg_.num_layers);
  dw_ = prepare_weights(w_, be);
}

GPTNeoX::GPTNeoX(GPTNeoXConfig cfg, GPTNeoXWeights host, GPTNeoXWeights prepared, Backend& be)
    : cfg_(std::move(cfg)), w_(std::move(host)), be_(&be), dw_(std::move(prepared)) {
  RCC_CHECK(
      int64_t(w_.layers.size()) == cfg_.num_layers && int64_t(dw_.layers.size()) == cfg_.num_layers,
      "GPTNeoX: ", w_.layers.size(), " layers of weights for a config of ", cfg_.num_layers);
}

void GPTNeoX::embed(const int32_t* ids, int64_t n, void* out) const {
  const int64_t V = cfg_.vocab_size;
  for (int64_t i = 0; i < n; ++i)
    RCC_CHECK(ids[i] >= 0 && ids[i] < V, "token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", V, ")");
  be_->embed(dw_.embed_in, ids, n, out);
}

// Workspace per row (activation elements): ln [H] | qkv [3H] | q [H] | attn [H] | mlp [I]
void GPTNeoX::layer(int64_t li, void* x, int64_t rows, std::span<const SeqSlice> seqs, void* work,
                    const Activations* acts) const {
  Backend& be = *be_;
  const int64_t H = cfg_.hidden_size;
  const size_t xbytes = be.act_bytes(rows * H);
  LayerBuffers b;
  b.ln = work;
  b.qkv = act_at(be, b.ln, rows * H);
  b.q = act_at(be, b.qkv, rows * 3 * H);
  b.attn = act_at(be, b.q, rows * H);
  b.mlp = act_at(be, b.attn, rows * H);
  b.ln2 = b.ln;   // post_attention_layernorm output
  b.act = b.mlp;  // GELU output (in place unless recording)
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
      be.layer_norm_pair(x, rows, H, l.ln1_w, l.ln1_b, l.ln2_w, l.ln2_b, float(cfg_.layer_norm_eps),
                         b.ln, b.ln2, a->x_in);
      b.normed = true;
    } else {
      be.copy_device(a->x_in, x, xbytes);
    }
  }
  attention_part(li, x, rows, seqs, b, acts);
  output_part(li, x, rows, b, a);
}

// Attention block: ln1 -> fused qkv -> rotary -> causal attention (against the cache, or within
// each recorded sequence when training) into b.attn [rows, H].
void GPTNeoX::attention_part(int64_t li, const void* x, int64_t rows,
                             std::span<const SeqSlice> seqs, const LayerBuffers& b,
                             const Activations* acts) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const int64_t H = cfg_.hidden_size, nh = cfg_.num_heads, hd = cfg_.head_dim();
  if (!b.normed) be.layer_norm(x, rows, H, l.ln1_w, l.ln1_b, float(cfg_.layer_norm_eps), b.ln);
  be.linear(b.ln, rows, l.qkv_w, l.qkv_b.defined() ? &l.qkv_b : nullptr, b.qkv, false);
  if (acts) {
    const LayerActivations& a = acts->layer(li);
    // Every sequence of the batch at once (positions from 0 in each), on the qkv product as it
    // lies (b.qkv is the activation store's a.qkv): rotated in place, then attention.
    be.rotary_qkv(b.qkv, acts->seqs, nh, hd, cfg_.rotary_dims(), cfg_.rotary_base, false);
    be.self_attention(b.qkv, acts->seqs, nh, hd, b.attn, a.lse);
  } else {
    // Every sequence against its own cache (positions from its length; a shared prefix is read
    // once for the sequences that share it where the backend can).
    be.qkv_to_cache_batch(b.qkv, seqs, nh, hd, cfg_.rotary_dims(), cfg_.rotary_base, li, b.q);
    be.attention_batch(b.q, seqs, li, b.attn);
  }
}

// Dense projection of b.attn and the MLP block, added to x [rows, H]; parallel residual:
// x + attn(ln1 x) + mlp(ln2 x); serial: mlp sees x + attn. Row-wise: any subset of a layer's
// rows can go through it on its own (forward_rows).
void GPTNeoX::output_part(int64_t li, void* x, int64_t rows, const LayerBuffers& b,
                          const LayerActivations* a) const {
  Backend& be = *be_;
  const LayerWeights& l = dw_.layers[size_t(li)];
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const float eps = float(cfg_.layer_norm_eps);
  const Tensor* dense_b = l.dense_b.defined() ? &l.dense_b : nullptr;
  // Both products accumulate straight into x (no [rows, H] sum buffer, no separate addition
  // pass). Parallel: ln2 reads x before either lands (b.ln2 may alias ln1's output, which the
  // fused qkv product has consumed). Serial: ln2 reads x + attn.
  if (cfg_.use_parallel_residual) {
    if (!b.normed) be.layer_norm(x, rows, H, l.ln2_w, l.ln2_b, eps, b.ln2);
    be.linear(b.attn, rows, l.dense_w, dense_b, x, /*accumulate=*/true);
  } else {
    be.linear(b.attn, rows, l.dense_w, dense_b, x, /*accumulate=*/true);
    if (a) be.copy_device(a->x_mid, x, be.act_bytes(rows * H));
    be.layer_norm(x, rows, H, l.ln2_w, l.ln2_b, eps, b.ln2);
  }
  be.linear(b.ln2, rows, l.fc_in_w, &l.fc_in_b, b.mlp, false);
  be.gelu(b.mlp, b.act, rows * I);  // out of place when training keeps the pre-activation
  be.linear(b.act, rows, l.fc_out_w, &l.fc_out_b, x, /*accumulate=*/true);
}

void GPTNeoX::check_seqs(int64_t rows, std::span<const SeqSlice> seqs) const {
  int64_t covered = 0;
  for (const SeqSlice& s : seqs) {
    RCC_CHECK(s.cache && s.begin == covered && s.count > 0,
              "forward: sequences must tile the batch");
    RCC_CHECK(s.cache->layers() == cfg_.num_layers && s.cache->width() == cfg_.hidden_size,
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

void GPTNeoX::forward(void* x, int64_t rows, std::span<const SeqSlice> seqs,
                      const ForwardHooks* hooks) const {
  const int64_t H = cfg_.hidden_size;
  check_seqs(rows, seqs);
  // Every part of the workspace is written before it is read (layer()): no zero fill.
  DeviceBuffer work(*be_, be_->act_bytes(rows * (6 * H + cfg_.intermediate_size)));
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    layer(i, x, rows, seqs, work.get(), nullptr);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  for (const SeqSlice& s : seqs) s.cache->advance(s.count);
  be_->layer_norm(x, rows, H, dw_.final_ln_w, dw_.final_ln_b, float(cfg_.layer_norm_eps), x);
}

void GPTNeoX::forward_rows(void* x, int64_t rows, std::span<const SeqSlice> seqs,
                           const ForwardHooks* hooks, std::span<const int64_t> keep,
                           void* out) const {
  Backend& be = *be_;
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size, L = cfg_.num_layers;
  const int64_t n = int64_t(keep.size());
  for (int64_t r : keep)
    RCC_CHECK(r >= 0 && r < rows, "forward_rows: row ", r, " outside the batch of ", rows);
  check_seqs(rows, seqs);
  DeviceBuffer work(be, be.act_bytes(rows * (6 * H + I)));
  for (int64_t i = 0; i < L - 1; ++i) {
    layer(i, x, rows, seqs, work.get(), nullptr);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  // The last layer: keys and values (hence ln1, qkv and attention) for every row, since the kept
  // rows attend to all earlier ones; the dense projection, the MLP and the final layer norm only
  // for the kept rows (out = x[keep], then the layer's output part).
  LayerBuffers b;
  b.ln = work.get();
  b.qkv = act_at(be, b.ln, rows * H);
  b.q = act_at(be, b.qkv, rows * 3 * H);
  b.attn = act_at(be, b.q, rows * H);
  attention_part(L - 1, x, rows, seqs, b, nullptr);
  for (const SeqSlice& s : seqs) s.cache->advance(s.count);
  if (n == 0) return;
  // The kept rows' workspace: attn [n, H] | ln2 [n, H] | mlp [n, I].
  DeviceBuffer kept(be, be.act_bytes(n * (2 * H + I)));
  LayerBuffers k;
  k.attn = kept.get();
  k.ln = k.ln2 = act_at(be, k.attn, n * H);
  k.mlp = k.act = act_at(be, k.ln2, n * H);
  be.gather_rows(x, H, keep.data(), n, H, out, H);
  be.gather_rows(b.attn, H, keep.data(), n, H, k.attn, H);
  output_part(L - 1, out, n, k, nullptr);
  if (hooks && hooks->after_layer) hooks->after_layer(L - 1, out, n);
  be.layer_norm(out, n, H, dw_.final_ln_w, dw_.final_ln_b, float(cfg_.layer_norm_eps), out);
}

void GPTNeoX::logits(const void* h, int64_t rows, float* out) const {
  RCC_CHECK(dw_.embed_out.defined(), "logits: this model has no LM head (embed_out)");
  be_->linear_f32_host(h, rows, dw_.embed_out, out);
}

std::vector<float> GPTNeoX::forward_logits(const std::vector<int32_t>& ids, KVCache& cache) const {
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
