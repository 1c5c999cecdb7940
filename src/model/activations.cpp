#include "model/activations.h"

namespace rcc {

void Activations::reset(const GPTNeoXConfig& cfg, Backend& be, int64_t rows) {
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size;
  const int64_t per_row = 9 * H + (cfg.use_parallel_residual ? 0 : H) + 2 * I;
  buf_.ensure(be, be.act_bytes(rows * (per_row * cfg.num_layers + H)));
  rows_ = rows;
  layers_.assign(size_t(cfg.num_layers), {});
  void* p = buf_.get();
  auto take = [&](int64_t width) {
    void* r = p;
    p = act_at(be, p, rows * width);
    return r;
  };
  for (LayerActivations& l : layers_) {
    l.x_in = take(H);
    l.ln1 = take(H);
    l.q = take(H);
    l.k = take(H);
    l.v = take(H);
    l.attn = take(H);
    l.x_mid = cfg.use_parallel_residual ? nullptr : take(H);
    l.ln2 = take(H);
    l.pre = take(I);
    l.act = take(I);
  }
  final_in_ = take(H);
  lse_buf_.ensure(be, size_t(rows * cfg.num_heads * cfg.num_layers) * 4);
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i].lse = static_cast<float*>(lse_buf_.get()) + int64_t(i) * rows * cfg.num_heads;
  seqs.clear();
}

}  // namespace rcc
