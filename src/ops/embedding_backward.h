// Backward of an embedding lookup out[i] = E[ids[i]] (training).
#pragma once
#include <cstdint>

namespace rcc::ops {

// dE [V, H] += scatter of dx [n, H] to the rows ids[i] (ids already checked against V). Split over
// column blocks with rows visited in order, so the sums do not depend on the thread count.
void embedding_backward(const int32_t* ids, int64_t n, const float* dx, int64_t H, float* dE);

}  // namespace rcc::ops
