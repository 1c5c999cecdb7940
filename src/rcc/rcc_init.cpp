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

Tensor new_projection(const std::string& rule, int64_t H, uint64_t seed, bool is_embed) {
  RCC_CHECK(rule == "identity" || rule == "normal",
            "projections must be \"identity\" or "
            "\"normal\", got '",
            rule, "'");
  Tensor t = Tensor::zeros(DType::F32, {H, H});
  if (rule == "identity") {
    if (is_embed)
      for (int64_t i = 0; i < H; ++i) t.f32()[i * H + i] = 1.0f;
  } else {
    fill_normal(t.f32(), H * H, seed, float(1.0 / std::sqrt(double(H))));
  }
  return t;
}

RCCModel init_rcc_from_base(const Transformer& base, const RCCSettings& settings,
                            const std::string& projections, DType dtype, uint64_t seed) {
  const ModelConfig& cfg = base.config();
  settings.validate("settings");
  settings.check_window_fits(cfg.max_position_embeddings, "settings");
  RCC_CHECK(dtype == DType::F32 || dtype == DType::BF16, "init from a base model: dtype ",
            dtype_name(dtype), " (F32 or BF16)");
  RCC_CHECK(base.weights().embed_out.defined(), "init from a base model: it has no LM head");
  // Independent copies in `dtype` (the base may be mapped, quantized or of another dtype).
  auto copy = [&](ModelWeights w) {
    w.visit("",
            [&](const std::string&, Tensor& t) { t = t.to(t.ndim() == 2 ? dtype : DType::F32); });
    return w;
  };
  ModelWeights dec = copy(base.weights());
  ModelWeights enc = copy(base.weights());
  if (cfg.tie_word_embeddings) dec.embed_out = dec.embed_in;  // tied: one tensor again
  enc.embed_out = Tensor();                                   // the encoder never needs an LM head
  const int64_t H = cfg.hidden_size;
  auto proj = [&](uint64_t s, bool is_embed) {
    Tensor t = new_projection(projections, H, s, is_embed);
    return dtype == DType::F32 ? t : t.to(dtype);
  };
  RCCModel m{Transformer(cfg, std::move(enc)),
             Transformer(cfg, std::move(dec)),
             proj(seed * 7 + 3, true),
             {},
             settings};
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    m.layer_proj.push_back(proj(seed * 7 + 4 + uint64_t(i), false));
  m.encoder_fingerprint = encoder_fingerprint(m.encoder, m.settings);
  m.prepare();
  return m;
}

}  // namespace rcc
