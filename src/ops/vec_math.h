// Vectorisable float math for hot loops (the compiler turns these branch-free loops into SIMD).
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

namespace rcc::ops {

// exp(x) in float: x = n·ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial (Cephes
// coefficients), times 2^n built in the exponent bits. Relative error ~2e-7 over the normal range;
// inputs below -87.3 give 0, as softmax needs (the caller subtracts the row max, so inputs are <= 0).
inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;  // ln2 split in two for an exact reduction
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return p * scale;
}

// y[i] = exp(x[i] - shift); returns the sum of y.
inline float exp_shifted_sum(float* x, int64_t n, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    x[i] = fast_exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

}  // namespace rcc::ops
