#include "rcc/rcc_init.h"

#include <cmath>

#include "model/init.h"

namespace rcc {

RCCModel init_random_rcc(const ModelConfig& cfg, const RCCSettings& settings, DType dtype,
                         uint64_t seed) {
  settings.validate("settings");
  settings.check_window_fits(cfg.max_position_embeddings, "settings");
  const int64_t H = cfg.hidden_size;
  auto proj = [&](uint64_t s) {
    Tensor t = Tensor::empty(DType::F32, {H, H});
    fill_normal(t.f32(), H * H, s, float(1.0 / std::sqrt(double(H))));
    return dtype == DType::F32 ? t : t.to(dtype);
  };
  ModelWeights enc = init_random_weights(cfg, dtype, seed * 2 + 1);
  enc.embed_out = Tensor();  // the encoder never needs an LM head
  RCCModel m{Transformer(cfg, std::move(enc)),
             Transformer(cfg, init_random_weights(cfg, dtype, seed * 2 + 2)),
             proj(seed * 7 + 3),
             {},
             settings};
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    m.layer_proj.push_back(proj(seed * 7 + 4 + uint64_t(i)));
  m.encoder_fingerprint = encoder_fingerprint(m.encoder, m.settings);
  m.prepare();
  return m;
}

}  // namespace rcc
