// Vectorised float math for hot loops.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace rcc::ops {

// exp(x) in float: x = n·ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial (Cephes
// coefficients), times 2^n built in the exponent bits. Relative error < 1e-7 over [-87, 88];
// inputs below -87.3 clamp (result ~1e-38), as softmax needs (inputs there are <= 0). NaN gives
// NaN (2^n is built by integer arithmetic on the bits of n + 1.5·2^23: no float-to-int conversion,
// which is undefined for NaN — hostile weights or memory slots make NaN scores).
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
  const uint32_t biased = std::bit_cast<uint32_t>(n + 12582912.0f) - 0x4B400000u + 127u;  // n + 127
  return p * std::bit_cast<float>(biased << 23);
}

// erf(x) = sign(x) · (1 − erfc(|x|)) with erfc(z) = t · exp(−z² − 1.26551223 + t · P(t)),
// t = 1 / (1 + z/2): fractional error of erfc < 1.2e-7 for all z (Numerical Recipes' erfcc), so
// |erf error| < 2e-7. Branch-free: loops over it vectorise.
inline float fast_erf(float x) {
  const float z = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float erfc = t * fast_exp(p - z * z);
  return std::copysign(1.0f - erfc, x);
}

#if defined(__AVX2__) && defined(__FMA__)
// The same computation on 8 lanes.
inline __m256 fast_exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  __m256 n = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// fast_erf on 8 lanes (the same polynomial; the division exact, so the same error bound).
inline __m256 fast_erf8(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(int(0x80000000u))));
  const __m256 z = _mm256_xor_ps(x, sign);
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                 _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(0.17087277f);
  for (float c : {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f,
                  0.37409196f, 1.00002368f, -1.26551223f})
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c));
  const __m256 erfc = _mm256_mul_ps(t, fast_exp8(_mm256_fnmadd_ps(z, z, p)));
  return _mm256_or_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), erfc), sign);
}
#endif

// x[i] = exp(x[i] - shift); returns the sum of the results.
inline float exp_shifted_sum(float* x, int64_t n, float shift) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc = _mm256_setzero_ps();
  const __m256 s = _mm256_set1_ps(shift);
  for (; i + 8 <= n; i += 8) {
    __m256 e = fast_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float l : lanes) sum += l;
#endif
  for (; i < n; ++i) {
    x[i] = fast_exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

}  // namespace rcc::ops
