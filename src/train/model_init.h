// Where a training run's first weights come from (spec §6.1):
// - a new model from a config: encoder and decoder with independent normal(0, init_std) matrices
//   (norms 1/0, biases 0; model/init.h), projections by the rule below;
// - encoder and decoder both from one base checkpoint of any family model/config.h reads (the
//   paper's setting: both start from the same pretrained model), the encoder without its LM head,
//   projections by the rule below (rcc/rcc_init.h new_projection);
// - an existing RCC checkpoint, as it is.
// Projection rules:
//   "identity" (default from a checkpoint): E = I, A_i = 0. A memory row then enters the decoder
//     as the embedding of its slot's last token and nothing is injected after the layers: the
//     pretrained decoder starts undisturbed, and gradients grow A_i from zero (dA_i =
//     dx_memᵀ·s_{i+1} is non-zero).
//   "normal" (default for new models): E, A_i ~ normal(0, 1/sqrt(H)), variance-preserving.
#pragma once
#include "rcc/rcc_model.h"
#include "train/train_config.h"

namespace rcc {

// vocab_size: used when the config's is 0 (auto). Weights are f32.
RCCModel init_training_model(const ModelInit& m, int64_t vocab_size);

}  // namespace rcc
