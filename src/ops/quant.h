// Int8 weights with block scales ("q8"): a matrix W [N, K] (K a multiple of 32) is stored as
// q [N, K] int8 and d [N, K / 32] f16 with W[n, k] ≈ d[n, k / 32] · q[n, k]; d = absmax / 127 of
// the block (rounded to f16), q = round(W / d) in [-127, 127]. In a checkpoint the pair is the I8
// tensor under the weight's name and an F16 tensor named "<name>_scale" (io/checkpoint.h,
// docs/formats.md).
#pragma once
#include "core/tensor.h"

namespace rcc::ops {

// Whether `t` can be stored as q8: a 2-D float matrix whose rows are a multiple of 32 long.
bool q8_eligible(const Tensor& t);
// The q8 form of an F32/BF16/F16 matrix (I8 with block scales attached; checked eligible).
Tensor quantize_q8(const Tensor& w);

}  // namespace rcc::ops
