// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) · w + b (biased variance).
#pragma once
#include <cstdint>

namespace rcc::ops {

// x, y: [rows, H] (may alias); w, b: [H].
void layer_norm(const float* x, int64_t rows, int64_t H, const float* w, const float* b, float eps,
                float* y);

}  // namespace rcc::ops
