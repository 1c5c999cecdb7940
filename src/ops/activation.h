// Element-wise ops on f32 buffers.
#pragma once
#include <cstdint>

namespace rcc::ops {

// Exact GELU: 0.5 · x · (1 + erf(x / sqrt 2)), in place.
void gelu(float* x, int64_t n);
// y += x
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace rcc::ops
