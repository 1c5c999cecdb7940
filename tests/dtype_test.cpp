// The dtype conversions (f32 <-> bf16, f32 <-> f16, Tensor::to) against references written here:
// IEEE half decoded by ldexp, round-to-nearest-even by search or by distances in double, over
// random bit patterns, every half and bf16 value and the ties between neighbours.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "ops_test_util.h"

namespace rcc {
namespace {

using test::randn;

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---------------------------------------------------------------------------------------------
// dtype conversions

// IEEE half decoded independently: sign · mantissa · 2^exp via ldexp.
double half_value(uint16_t h) {
  const int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0)
    v = std::ldexp(double(m), -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = std::ldexp(double(1024 + m), e - 25);
  return sign ? -v : v;
}

// Round-to-nearest-even reference for f32 -> f16, by search over the 31744 finite non-negative
// halves (sorted by value as by bits). Beyond the largest half (65504) the next step would be
// 65536: values from the midpoint 65520 up round to infinity.
uint16_t f32_to_f16_reference(float f) {
  if (std::isnan(f)) return 0x7e00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return sign | 0x7c00;
  uint16_t lo = 0, hi = 0x7bff;  // largest half <= a
  while (lo < hi) {
    uint16_t mid = uint16_t((lo + hi + 1) / 2);
    if (half_value(mid) <= a)
      lo = mid;
    else
      hi = uint16_t(mid - 1);
  }
  if (half_value(lo) == a || lo == 0x7bff) return sign | lo;
  const double d_lo = a - half_value(lo), d_hi = half_value(uint16_t(lo + 1)) - a;
  if (d_lo < d_hi) return sign | lo;
  if (d_hi < d_lo) return sign | uint16_t(lo + 1);
  return sign | ((lo & 1) ? uint16_t(lo + 1) : lo);
}

// Round-to-nearest-even reference for f32 -> bf16 by comparing distances to the two neighbours in
// double; the step above the largest bf16 is 2^128 (so its midpoint rounds to infinity, as IEEE).
uint16_t f32_to_bf16_reference(float f) {
  if (std::isnan(f)) return 0x7fc0 | (std::signbit(f) ? 0x8000 : 0);
  const uint32_t u = f32_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000), lo = uint16_t((u >> 16) & 0x7fff);
  if (lo == 0x7f80) return sign | lo;  // infinity
  auto value = [](uint16_t b) {
    return b == 0x7f80 ? std::ldexp(1.0, 128) : double(bits_f32(uint32_t(b) << 16));
  };
  const double a = std::fabs(double(f));
  const double d_lo = a - value(lo), d_hi = value(uint16_t(lo + 1)) - a;
  if (d_lo < d_hi || d_lo == 0) return sign | lo;
  if (d_hi < d_lo) return sign | uint16_t(lo + 1);
  return sign | ((lo & 1) ? uint16_t(lo + 1) : lo);
}

// Interesting f32 inputs: random bit patterns, every half and bf16 value and the midpoints between
// neighbours (the ties) together with the floats just either side of each midpoint.
std::vector<float> conversion_inputs() {
  std::vector<float> v;
  std::mt19937 rng(1000);
  for (int i = 0; i < 200000; ++i) {
    float f = bits_f32(uint32_t(rng()));
    if (!std::isnan(f)) v.push_back(f);
  }
  auto around = [&](double mid) {
    float m = float(mid);
    v.push_back(m);
    v.push_back(std::nextafter(m, INFINITY));
    v.push_back(std::nextafter(m, -INFINITY));
    v.push_back(-m);
  };
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    v.push_back(float(half_value(uint16_t(h))));
    around((half_value(uint16_t(h)) + (h + 1 < 0x7c00 ? half_value(uint16_t(h + 1)) : 65536.0)) /
           2);
  }
  for (uint32_t b = 0; b < 0x7f80; b += 7) {
    double x = bits_f32(b << 16), y = bits_f32((b + 1) << 16);
    if (b + 1 == 0x7f80) y = std::ldexp(1.0, 128);
    v.push_back(float(x));
    if (b + 1 < 0x7f80) around((x + y) / 2);
  }
  for (float f : {0.0f, -0.0f, 65504.0f, 65519.996f, 65520.0f, 1e6f, 3.4028235e38f, 1e-45f, 1e-8f,
                  2.9802322e-8f /* 2^-25: half of the smallest f16 subnormal */,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    v.push_back(f);
  return v;
}

TEST(Dtype, F32ToBf16RoundsToNearestEven) {
  for (float f : conversion_inputs())
    ASSERT_EQ(f32_to_bf16(f), f32_to_bf16_reference(f))
        << "f = " << f << " bits " << std::hex << f32_bits(f);
  // Ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3·2^-8 goes up.
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
  // Overflow: the largest float rounds to infinity; infinities and zeros keep their sign.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  // NaNs stay NaNs, including signalling ones whose payload lives only in the dropped low bits.
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    const uint16_t b = f32_to_bf16(bits_f32(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(b))) << std::hex << nan;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << "sign kept";
  }
}

TEST(Dtype, Bf16ToF32IsExactEverywhere) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(uint16_t(b));
    EXPECT_EQ(f32_bits(f), b << 16);  // bf16 is the top half of an f32
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), b);
    }
  }
}

TEST(Dtype, F16ToF32IsExactEverywhere) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    const double want = half_value(uint16_t(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      continue;
    }
    ASSERT_EQ(double(f), want) << std::hex << h;
    ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << std::hex << h;
    ASSERT_EQ(f32_to_f16(f), h) << "round trip of " << std::hex << h;  // incl. subnormals, ±0, ±inf
  }
}

TEST(Dtype, F32ToF16RoundsToNearestEven) {
  for (float f : conversion_inputs())
    ASSERT_EQ(f32_to_f16(f), f32_to_f16_reference(f))
        << "f = " << f << " bits " << std::hex << f32_bits(f);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the midpoint to 65536 rounds to even: infinity
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);         // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);         // halfway to it: even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);         // above halfway
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);         // 1.5 units: tie to even (2)
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -26)), 0x8000);        // underflow keeps the sign
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);      // rounds up into the normals
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie: even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00000u}) {
    const uint16_t h = f32_to_f16(bits_f32(nan));
    EXPECT_TRUE(std::isnan(f16_to_f32(h))) << std::hex << nan;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000);
  }
}

TEST(Dtype, TensorConversionsChain) {
  std::vector<float> vals = randn(1001, 1100, 0.0f, 100.0f);
  vals[0] = 1e6f, vals[1] = -1e-7f, vals[2] = std::numeric_limits<float>::infinity();
  vals[3] = NAN;
  Tensor f = Tensor::from_f32(vals, {7, 11, 13});
  Tensor b = f.to(DType::BF16), h = f.to(DType::F16);
  ASSERT_EQ(b.shape(), f.shape());
  for (size_t i = 0; i < vals.size(); ++i) {
    ASSERT_EQ(b.data<uint16_t>()[i], f32_to_bf16(vals[i]));
    ASSERT_EQ(h.data<uint16_t>()[i], f32_to_f16(vals[i]));
  }
  // bf16 -> f16 goes through the exact f32 value: one rounding.
  Tensor bh = b.to(DType::F16), hb = h.to(DType::BF16);
  for (size_t i = 0; i < vals.size(); ++i) {
    ASSERT_EQ(bh.data<uint16_t>()[i], f32_to_f16(bf16_to_f32(b.data<uint16_t>()[i])));
    ASSERT_EQ(hb.data<uint16_t>()[i], f32_to_bf16(f16_to_f32(h.data<uint16_t>()[i])));
  }
  // Widening to f32 and back is the identity on stored bits.
  EXPECT_EQ(std::memcmp(b.to(DType::F32).to(DType::BF16).raw(), b.raw(), b.nbytes()), 0);
  EXPECT_EQ(std::memcmp(h.to(DType::F32).to(DType::F16).raw(), h.raw(), h.nbytes()), 0);
  EXPECT_EQ(std::memcmp(f.clone().raw(), f.raw(), f.nbytes()), 0);
  EXPECT_NE(f.clone().raw(), f.raw());
  // Integer tensors widen to f32; narrowing to integers is refused with an rcc::Error.
  Tensor i = Tensor::empty(DType::I64, {3});
  i.data<int64_t>()[0] = -3, i.data<int64_t>()[1] = 0, i.data<int64_t>()[2] = 1 << 20;
  EXPECT_EQ(i.to_vector(), (std::vector<float>{-3, 0, 1 << 20}));
  EXPECT_EQ(i.to(DType::F32).to_vector(), i.to_vector());
  EXPECT_THROW(f.to(DType::I32), Error);
  EXPECT_THROW(b.data<float>(), Error);  // wrong element type for raw access
}

// FP8 E4M3 as in the OCP FP8 specification's "E4M3" (CUDA's __nv_fp8_e4m3): values of known codes,
// every finite code round trips, ties go to the even code, saturation at 448, NaN kept.
TEST(Dtype, E4M3ValuesRoundingAndSaturation) {
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0xB8), -1.0f);
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x00), 0.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xFF)));
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    const float v = e4m3_to_f32(uint8_t(c));
    if (v == 0.0f) continue;  // ±0 both encode as their own sign
    EXPECT_EQ(f32_to_e4m3(v), uint8_t(c)) << c;
  }
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);  // halfway between 1 (even) and 1.125
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3A);  // halfway between 1.125 and 1.25 (even)
  EXPECT_EQ(f32_to_e4m3(1.07f), 0x39);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -10)), 0x00);  // half the smallest subnormal
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.01f, -10)), 0x01);
  EXPECT_EQ(f32_to_e4m3(500.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(-1e30f), 0xFE);
  EXPECT_EQ(f32_to_e4m3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(f32_to_e4m3(std::nanf("")), 0x7F);
  // E5M2: the upper byte of a half (1.0 = 0x3C, largest finite 57344 = 0x7B, infinity 0x7C).
  EXPECT_EQ(e5m2_to_f32(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(e5m2_to_f32(0x7C)));
}

// An F8_E4M3 matrix with f32 scales (per row, or one) reads back as q · scale.
TEST(Dtype, E4M3MatrixWithRowScales) {
  Tensor q = Tensor::empty(DType::F8_E4M3, {2, 3});
  const uint8_t codes[6] = {0x38, 0xB8, 0x7E, 0x00, 0x08, 0x40};
  std::memcpy(q.raw(), codes, 6);
  const Tensor m = q.with_fp8_scales(Tensor::from_f32({0.5f, 2.0f}, {2}));
  EXPECT_TRUE(m.quantized());
  const std::vector<float> v = m.to_vector();
  const std::vector<float> want = {0.5f, -0.5f, 224.0f, 0.0f, 2.0f * std::ldexp(1.0f, -6), 4.0f};
  EXPECT_EQ(v, want);
  EXPECT_THROW(q.with_fp8_scales(Tensor::from_f32({1.0f, 2.0f, 3.0f}, {3})), Error);
  EXPECT_THROW(m.block_scales(), Error);
  // One scale for the whole matrix; rows() keeps it.
  const Tensor t = q.with_fp8_scales(Tensor::from_f32({0.25f}, {1}));
  EXPECT_EQ(t.to_vector()[2], 112.0f);
  EXPECT_EQ(t.rows(1, 2).to_vector()[2], 0.5f);  // code 0x40 = 2
}

}  // namespace
}  // namespace rcc
