// Weighted (masked) softmax cross-entropy over logits rows, forward and backward in one pass
// (training).
#pragma once
#include <cstdint>

namespace rcc::ops {

// logits [rows, V]; targets [rows] in [0, V); weights [rows] (0 = masked out, the row is skipped).
// Returns Σ_r weights[r] · (logsumexp(logits_r) − logits_r[targets[r]]) (summed in double, in row
// order). When dlogits [rows, V] is given it receives scale · weights[r] · (softmax(logits_r) −
// onehot(targets[r])) (rows of weight 0 get zeros). Targets are checked.
double cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                     const float* weights, float* dlogits, float scale);

}  // namespace rcc::ops
