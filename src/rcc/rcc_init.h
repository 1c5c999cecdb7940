// New RCC models from a config: encoder and decoder GPT-NeoX with fresh random weights (model/init.h)
// and projections E, A_i ~ normal(0, 1/sqrt(H)) (variance-preserving, so injected memory starts at the
// scale of the residual stream). Used by tests and demos; training may start from here.
#pragma once
#include "rcc/rcc_model.h"

namespace rcc {

RCCModel init_random_rcc(const ModelConfig& cfg, const RCCSettings& settings, DType dtype,
                         uint64_t seed);

}  // namespace rcc
