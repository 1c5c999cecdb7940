#include "model/activations.h"

namespace rcc {

void Activations::reset(const ModelConfig& cfg, Backend& be, int64_t rows, int64_t kept) {
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, L = cfg.num_layers;
  const int64_t Q = cfg.q_width(), QKV = cfg.qkv_width(), M = cfg.mlp_in_rows();
  const int64_t pre_qkv = cfg.qk_norm ? QKV : 0;
  const bool serial = !cfg.use_parallel_residual;
  // Per row: the attention part (x_in, ln1, qkv, qkv_pre, attn) and the output part (x_mid, ln2,
  // pre, act); the last layer's output part has `kept` rows when kept >= 0, plus kx_in and kattn.
  const int64_t attn_part = 2 * H + QKV + pre_qkv + Q, out_part = (serial ? H : 0) + H + M + I;
  const int64_t out_rows = kept >= 0 ? kept : rows;
  const int64_t elems = rows * (attn_part * L + out_part * (L - 1)) + out_rows * (out_part + H) +
                        (kept >= 0 ? kept * (H + Q) : 0);
  // Grown with 1/16 of headroom (kept between steps, a store then absorbs the batches' small
  // variations in size instead of being reallocated for each slightly larger one).
  const size_t need = be.act_bytes(elems);
  if (buf_.backend() != &be || buf_.bytes() < need) buf_.ensure(be, need + need / 16);
  rows_ = rows;
  kept_ = kept;
  layers_.assign(size_t(L), {});
  void* p = buf_.get();
  auto take = [&](int64_t n, int64_t width) {
    void* r = p;
    p = act_at(be, p, n * width);
    return r;
  };
  for (int64_t i = 0; i < L; ++i) {
    LayerActivations& l = layers_[size_t(i)];
    const int64_t n = i == L - 1 ? out_rows : rows;
    l.x_in = take(rows, H);
    l.ln1 = take(rows, H);
    l.qkv = take(rows, QKV);
    l.qkv_pre = pre_qkv ? take(rows, QKV) : nullptr;
    l.attn = take(rows, Q);
    l.x_mid = serial ? take(n, H) : nullptr;
    l.ln2 = take(n, H);
    l.pre = take(n, M);
    l.act = take(n, I);
    if (i == L - 1 && kept >= 0) {
      l.kx_in = take(kept, H);
      l.kattn = take(kept, Q);
    }
  }
  final_in_ = take(out_rows, H);
  const size_t lse_need = size_t(rows * cfg.num_heads * cfg.num_layers) * 4;
  if (lse_buf_.backend() != &be || lse_buf_.bytes() < lse_need)
    lse_buf_.ensure(be, lse_need + lse_need / 16);
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i].lse = static_cast<float*>(lse_buf_.get()) + int64_t(i) * rows * cfg.num_heads;
  seqs.clear();
  keep.clear();
}

}  // namespace rcc
