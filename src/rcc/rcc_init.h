// New RCC models (spec §2, §5): from a config, with fresh random weights (model/init.h), or from
// one pretrained base checkpoint that both the encoder and the decoder start from (the paper's
// recipe), with new projections E and A_i.
#pragma once
#include "rcc/rcc_model.h"

namespace rcc {

// Encoder and decoder with random weights; E, A_i ~ normal(0, 1/sqrt(H)) (variance-preserving, so
// injected memory starts at the scale of the residual stream). Used by tests and demos; training
// may start from here.
RCCModel init_random_rcc(const ModelConfig& cfg, const RCCSettings& settings, DType dtype,
                         uint64_t seed);

// A new projection [H, H] f32: "identity" (E = I, A_i = 0: the decoder starts as the base model
// with the memory's embeddings passed through) or "normal" (normal(0, 1/sqrt(H)), seeded).
Tensor new_projection(const std::string& rule, int64_t H, uint64_t seed, bool is_embed);

// Both networks from `base` (any family model/config.h reads): the decoder is the base model, the
// encoder a copy without its LM head; weights converted to `dtype` (F32 or BF16); E and A_i new
// by `projections`.
RCCModel init_rcc_from_base(const Transformer& base, const RCCSettings& settings,
                            const std::string& projections, DType dtype, uint64_t seed);

}  // namespace rcc
