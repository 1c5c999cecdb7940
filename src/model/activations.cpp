#include "model/activations.h"

namespace rcc {

void Activations::reset(const GPTNeoXConfig& cfg, int64_t rows) {
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size;
  const int64_t per_row = 7 * H + (cfg.use_parallel_residual ? 0 : H) + 2 * I;
  const size_t need = size_t(rows * (per_row * cfg.num_layers + H));
  if (buf_.size() < need) buf_.resize(need);
  rows_ = rows;
  layers_.assign(size_t(cfg.num_layers), {});
  float* p = buf_.data();
  auto take = [&](int64_t width) {
    float* r = p;
    p += rows * width;
    return r;
  };
  for (LayerActivations& l : layers_) {
    l.x_in = take(H);
    l.ln1 = take(H);
    l.qkv = take(3 * H);
    l.attn = take(H);
    l.x_mid = cfg.use_parallel_residual ? nullptr : take(H);
    l.ln2 = take(H);
    l.pre = take(I);
    l.act = take(I);
  }
  final_in_ = take(H);
  seqs.clear();
}

}  // namespace rcc
