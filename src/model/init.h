// Fresh GPT-NeoX parameters: normal(0, std) matrices (a fast deterministic generator, per seed),
// layer norms at weight 1 / bias 0, biases 0. Used by benchmarks and to start training.
#pragma once
#include <cstdint>

#include "model/weights.h"

namespace rcc {

ModelWeights init_random_weights(const ModelConfig& cfg, DType matrix_dtype, uint64_t seed,
                                 float stddev = 0.02f);

// Fills n f32 values with normal(0, stddev) from a counter-based generator (parallel,
// reproducible).
void fill_normal(float* dst, int64_t n, uint64_t seed, float stddev);

}  // namespace rcc
