#include "train/model_init.h"

#include <cmath>
#include <cstring>

#include "model/init.h"
#include "model/load.h"
#include "rcc/rcc_init.h"

namespace rcc {

namespace {

ModelWeights to_f32(ModelWeights w) {
  w.visit("", [](const std::string&, Tensor& t) {
    if (t.dtype() != DType::F32) t = t.to(DType::F32);
  });
  return w;
}

}  // namespace

RCCModel init_training_model(const ModelInit& m, int64_t vocab_size) {
  if (m.kind == "rcc") return RCCModel::load(m.from);
  ModelConfig cfg;
  ModelWeights enc, dec;
  if (m.kind == "random") {
    cfg = m.config;
    if (cfg.vocab_size == 0) cfg.vocab_size = vocab_size;
    RCC_CHECK(cfg.vocab_size >= vocab_size, "model.config: vocab_size ", cfg.vocab_size,
              " is smaller than the vocabulary (", vocab_size, " tokens)");
    enc = init_random_weights(cfg, DType::F32, m.seed * 2 + 1, float(m.init_std));
    dec = init_random_weights(cfg, DType::F32, m.seed * 2 + 2, float(m.init_std));
  } else {  // base: both networks from one checkpoint (any family model/config.h reads)
    Transformer base = load_model(m.from);
    cfg = base.config();
    RCC_CHECK(cfg.vocab_size >= vocab_size, m.from, ": vocab_size ", cfg.vocab_size,
              " is smaller than the vocabulary (", vocab_size, " tokens)");
    dec = to_f32(base.weights());
    enc = to_f32(base.weights());
    // Independent copies: the two networks train apart from here on.
    enc.visit("", [](const std::string&, Tensor& t) { t = t.clone(); });
  }
  enc.embed_out = Tensor();  // the encoder never needs an LM head
  m.rcc.validate("model.rcc");
  m.rcc.check_window_fits(cfg.max_position_embeddings, "model.rcc");
  const int64_t H = cfg.hidden_size;
  RCCModel r{Transformer(cfg, std::move(enc)),
             Transformer(cfg, std::move(dec)),
             new_projection(m.projections, H, m.seed * 7 + 3, true),
             {},
             m.rcc};
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    r.layer_proj.push_back(new_projection(m.projections, H, m.seed * 7 + 4 + uint64_t(i), false));
  r.encoder_fingerprint = encoder_fingerprint(r.encoder, r.settings);
  r.prepare();
  return r;
}

}  // namespace rcc
