#include "model/gptneox.h"

#include <cstring>
#include <memory>

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace rcc {

GPTNeoX::GPTNeoX(GPTNeoXConfig cfg, GPTNeoXWeights w) : cfg_(std::move(cfg)), w_(std::move(w)) {
  RCC_CHECK(int64_t(w_.layers.size()) == cfg_.num_layers, "GPTNeoX: ", w_.layers.size(),
            " layers of weights for a config of ", cfg_.num_layers);
}

void GPTNeoX::embed(const int32_t* ids, int64_t n, float* out) const {
  const int64_t H = cfg_.hidden_size, V = cfg_.vocab_size;
  const DType t = w_.embed_in.dtype();
  const char* base = static_cast<const char*>(w_.embed_in.raw());
  for (int64_t i = 0; i < n; ++i) {
    RCC_CHECK(ids[i] >= 0 && ids[i] < V, "token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", V, ")");
    convert_to_f32(t, base + size_t(ids[i]) * size_t(H) * dtype_size(t), out + i * H, size_t(H));
  }
}

// Workspace per row: ln [H] | qkv [3H] | q [H] | attn [H] | proj [H] | mlp [I]
void GPTNeoX::layer(int64_t li, float* x, int64_t rows, std::span<const SeqSlice> seqs,
                    float* work, const LayerActivations* a) const {
  const LayerWeights& l = w_.layers[size_t(li)];
  const int64_t H = cfg_.hidden_size, nh = cfg_.num_heads, hd = cfg_.head_dim();
  const int64_t I = cfg_.intermediate_size;
  const float eps = float(cfg_.layer_norm_eps);
  float* ln = work;
  float* qkv = ln + rows * H;
  float* q = qkv + rows * 3 * H;
  float* attn = q + rows * H;
  float* proj = attn + rows * H;
  float* mlp = proj + rows * H;
  float* ln2 = ln;   // post_attention_layernorm output
  float* act = mlp;  // GELU output (in place unless recording)
  if (a) {  // training: intermediate results go to the activation store
    std::memcpy(a->x_in, x, size_t(rows * H) * 4);
    ln = a->ln1;
    qkv = a->qkv;
    attn = a->attn;
    ln2 = a->ln2;
    mlp = a->pre;
    act = a->act;
  }

  // Attention block: ln1 -> fused qkv -> rotary -> cache -> causal attention -> dense.
  ops::layer_norm(x, rows, H, l.ln1_w.f32(), l.ln1_b.f32(), eps, ln);
  ops::linear(ln, rows, l.qkv_w, l.qkv_b.defined() ? &l.qkv_b : nullptr, qkv);
  for (const SeqSlice& s : seqs) {
    KVCache& c = *s.cache;
    const int64_t past = c.length();
    float* sq = qkv + s.begin * 3 * H;
    ops::rotary_qkv(sq, s.count, nh, hd, cfg_.rotary_dims(), past, cfg_.rotary_base);
    // Split the per-head [q | k | v] rows: q to a dense [rows, H] buffer, k and v into the cache.
    float* kc = c.k(li) + past * H;
    float* vc = c.v(li) + past * H;
    for (int64_t r = 0; r < s.count; ++r)
      for (int64_t h = 0; h < nh; ++h) {
        const float* src = sq + r * 3 * H + h * 3 * hd;
        std::memcpy(q + (s.begin + r) * H + h * hd, src, size_t(hd) * 4);
        std::memcpy(kc + r * H + h * hd, src + hd, size_t(hd) * 4);
        std::memcpy(vc + r * H + h * hd, src + 2 * hd, size_t(hd) * 4);
      }
    ops::causal_attention(q + s.begin * H, H, c.k(li), c.v(li), H, s.count, past, nh, hd,
                          attn + s.begin * H);
  }
  ops::linear(attn, rows, l.dense_w, l.dense_b.defined() ? &l.dense_b : nullptr, proj);

  // MLP block; parallel residual: x + attn(ln1 x) + mlp(ln2 x); serial: mlp sees x + attn.
  if (!cfg_.use_parallel_residual) {
    ops::add_inplace(x, proj, rows * H);
    if (a) std::memcpy(a->x_mid, x, size_t(rows * H) * 4);
  }
  ops::layer_norm(x, rows, H, l.ln2_w.f32(), l.ln2_b.f32(), eps, ln2);
  ops::linear(ln2, rows, l.fc_in_w, &l.fc_in_b, mlp);
  if (a) std::memcpy(act, mlp, size_t(rows * I) * 4);
  ops::gelu(act, rows * I);
  if (cfg_.use_parallel_residual) {
    ops::linear(act, rows, l.fc_out_w, &l.fc_out_b, proj, /*accumulate=*/true);  // proj = attn+mlp
    ops::add_inplace(x, proj, rows * H);
  } else {
    ops::linear(act, rows, l.fc_out_w, &l.fc_out_b, x, /*accumulate=*/true);
  }
}

void GPTNeoX::forward(float* x, int64_t rows, std::span<const SeqSlice> seqs,
                      const ForwardHooks* hooks, Activations* acts) const {
  const int64_t H = cfg_.hidden_size;
  int64_t covered = 0;
  for (const SeqSlice& s : seqs) {
    RCC_CHECK(s.cache && s.begin == covered && s.count > 0, "forward: sequences must tile the batch");
    RCC_CHECK(s.cache->layers() == cfg_.num_layers && s.cache->width() == H,
              "forward: KV cache of another model shape");
    RCC_CHECK(!s.cache->shared_layers() || s.cache->length() == 0,
              "forward: a layer-shared scratch cache only serves one pass from position 0");
    s.cache->reserve(s.cache->length() + s.count);
    covered += s.count;
  }
  RCC_CHECK(covered == rows, "forward: sequences cover ", covered, " of ", rows, " rows");
  if (acts) {
    acts->reset(cfg_, rows);
    for (const SeqSlice& s : seqs) {
      RCC_CHECK(s.cache->length() == 0,
                "forward: recording activations needs sequences from position 0");
      acts->seqs.emplace_back(s.begin, s.count);
    }
  }
  // Every part of the workspace is written before it is read (layer()): no zero fill.
  std::unique_ptr<float[]> work(new float[size_t(rows * (7 * H + cfg_.intermediate_size))]);
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    layer(i, x, rows, seqs, work.get(), acts ? &acts->layer(i) : nullptr);
    if (hooks && hooks->after_layer) hooks->after_layer(i, x, rows);
  }
  for (const SeqSlice& s : seqs) s.cache->advance(s.count);
  if (acts) std::memcpy(acts->final_in(), x, size_t(rows * H) * 4);
  ops::layer_norm(x, rows, H, w_.final_ln_w.f32(), w_.final_ln_b.f32(), float(cfg_.layer_norm_eps),
                  x);
}

void GPTNeoX::logits(const float* h, int64_t rows, float* out) const {
  RCC_CHECK(w_.embed_out.defined(), "logits: this model has no LM head (embed_out)");
  ops::linear(h, rows, w_.embed_out, nullptr, out);
}

std::vector<float> GPTNeoX::forward_logits(const std::vector<int32_t>& ids, KVCache& cache) const {
  const int64_t n = int64_t(ids.size()), H = cfg_.hidden_size;
  RCC_CHECK(n > 0, "forward_logits: no tokens");
  std::vector<float> x(static_cast<size_t>(n * H));
  embed(ids.data(), n, x.data());
  SeqSlice s{0, n, &cache};
  forward(x.data(), n, {&s, 1});
  std::vector<float> out(static_cast<size_t>(n * cfg_.vocab_size));
  logits(x.data(), n, out.data());
  return out;
}

}  // namespace rcc
