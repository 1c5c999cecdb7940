// Rotary position embedding, "rotate half" convention (spec §1.4): within each head the first
// rope.dims dimensions rotate, pairs (i, i + dims/2) by angle float(pos) · inv_freq[i] (f32, as
// Hugging Face computes it; ops/attention_shape.h).
#pragma once
#include <cstdint>

#include "ops/attention_shape.h"

namespace rcc::ops {

// The unscaled frequencies inv_freq[i] = 1 / base^(2i/dims) in f32 (Hugging Face's default).
Rope default_rope(int64_t dims, double base);

// Rotates one head vector `v` (first rope.dims entries) in place for position `pos`.
void rotary_apply(float* v, const Rope& rope, int64_t pos);

// qkv: [rows, s.qkv_width()] (the fused layout of `s`); rotates every query and key head of row r
// at position pos0 + r.
void rotary_qkv(float* qkv, int64_t rows, const AttentionShape& s, const Rope& rope, int64_t pos0);

// Backward of rotary_qkv (training), in place on the gradient dqkv of the same layout: the q and
// k gradients are rotated back (the transpose of a rotation is the rotation by −angle); the v
// gradient is untouched. Angles are computed exactly as the forward's. (rotary_backward_cpu.cpp)
void rotary_qkv_backward(float* dqkv, int64_t rows, const AttentionShape& s, const Rope& rope,
                         int64_t pos0);

// cos/sin of the angles of position `pos`: c, s [rope.dims / 2]. Shared by forward and backward.
void rotary_angles(const Rope& rope, int64_t pos, float* c, float* s);

}  // namespace rcc::ops
