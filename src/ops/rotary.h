// Rotary position embedding, GPT-NeoX "rotate half" convention (spec §1.4): within each head the
// first `rot` dimensions rotate, pairs (i, i + rot/2) by angle pos · base^(-2i/rot).
#pragma once
#include <cstdint>

namespace rcc::ops {

// Rotates one head vector `v` (first `rot` entries) in place for position `pos`.
void rotary_apply(float* v, int64_t rot, int64_t pos, double base);

// qkv: [rows, heads, 3, head_dim] (the fused layout); rotates q and k of every head of row r at
// position pos0 + r.
void rotary_qkv(float* qkv, int64_t rows, int64_t heads, int64_t head_dim, int64_t rot,
                int64_t pos0, double base);

// Backward of rotary_qkv (training), in place on the gradient dqkv [rows, heads, 3, head_dim]: the
// q and k gradients are rotated back (the transpose of a rotation is the rotation by −angle); the
// v gradient is untouched. Angles are computed exactly as the forward's. (rotary_backward_cpu.cpp)
void rotary_qkv_backward(float* dqkv, int64_t rows, int64_t heads, int64_t head_dim, int64_t rot,
                         int64_t pos0, double base);

}  // namespace rcc::ops
