#include "core/dtype.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace rcc {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
    case DType::F64:
      return 8;
    case DType::I16:
      return 2;
    case DType::I8:
      return 1;
    case DType::U8:
      return 1;
    case DType::U16:
      return 2;
    case DType::U32:
      return 4;
    case DType::U64:
      return 8;
    case DType::BOOL:
      return 1;
    case DType::F8_E4M3:
      return 1;
    case DType::F8_E5M2:
      return 1;
  }
  fail("unknown dtype");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I32:
      return "I32";
    case DType::I64:
      return "I64";
    case DType::F64:
      return "F64";
    case DType::I16:
      return "I16";
    case DType::I8:
      return "I8";
    case DType::U8:
      return "U8";
    case DType::U16:
      return "U16";
    case DType::U32:
      return "U32";
    case DType::U64:
      return "U64";
    case DType::BOOL:
      return "BOOL";
    case DType::F8_E4M3:
      return "F8_E4M3";
    case DType::F8_E5M2:
      return "F8_E5M2";
  }
  return "?";
}

bool dtype_from_name(const std::string& name, DType* out) {
  static const struct {
    const char* name;
    DType t;
  } table[] = {{"F32", DType::F32},   {"F16", DType::F16},         {"BF16", DType::BF16},
               {"I32", DType::I32},   {"I64", DType::I64},         {"F64", DType::F64},
               {"I16", DType::I16},   {"I8", DType::I8},           {"U8", DType::U8},
               {"U16", DType::U16},   {"U32", DType::U32},         {"U64", DType::U64},
               {"BOOL", DType::BOOL}, {"F8_E4M3", DType::F8_E4M3}, {"F8_E5M2", DType::F8_E5M2}};
  for (const auto& e : table)
    if (name == e.name) {
      *out = e.t;
      return true;
    }
  return false;
}

// IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float e4m3_to_f32(uint8_t b) {
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  const int e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  if (e == 0) return sign * std::ldexp(float(m), -9);  // subnormal: m/8 · 2^-6
  return sign * std::ldexp(float(8 + m), e - 10);      // (1 + m/8) · 2^(e-7)
}

float e5m2_to_f32(uint8_t b) {
  // E5M2 is the upper byte of an IEEE half.
  return f16_to_f32(uint16_t(uint16_t(b) << 8));
}

uint8_t f32_to_e4m3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7E;  // saturate (no infinities)
  // The nearest of the 127 non-negative finite codes, ties to the even code (binary search over
  // the monotonic code values).
  int lo = 0, hi = 0x7E;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    (e4m3_to_f32(uint8_t(mid)) <= a ? lo : hi) = mid;
  }
  const float dl = a - e4m3_to_f32(uint8_t(lo)), dh = e4m3_to_f32(uint8_t(hi)) - a;
  const int code = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
  return sign | uint8_t(code);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (absu >= 0x477ff000u) return sign | 0x7c00u;  // overflow (rounds past 65504) -> inf
  if (absu < 0x38800000u) {                        // subnormal or zero in half
    float a;
    std::memcpy(&a, &absu, 4);
    // scale so that the half subnormal unit (2^-24) becomes 1, then round to nearest even
    float scaled = a * 16777216.0f;
    uint32_t m = uint32_t(std::nearbyint(scaled));
    return sign | uint16_t(m);
  }
  uint32_t exp = (absu >> 23) - 127 + 15;
  uint32_t man = absu & 0x7fffffu;
  uint32_t half = exp << 10 | man >> 13;
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: ok
  return sign | uint16_t(half);
}

namespace {
template <class T>
void convert_ints(const void* src, float* dst, size_t n) {
  const T* s = static_cast<const T*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = float(s[i]);
}
}  // namespace

void convert_to_f32(DType src_type, const void* src, float* dst, size_t n) {
  switch (src_type) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
#pragma omp simd
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::I32: {
      const int32_t* s = static_cast<const int32_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case DType::I64: {
      const int64_t* s = static_cast<const int64_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case DType::F64:
      return convert_ints<double>(src, dst, n);
    case DType::I16:
      return convert_ints<int16_t>(src, dst, n);
    case DType::I8:
      return convert_ints<int8_t>(src, dst, n);
    case DType::U8:
    case DType::BOOL:
      return convert_ints<uint8_t>(src, dst, n);
    case DType::U16:
      return convert_ints<uint16_t>(src, dst, n);
    case DType::U32:
      return convert_ints<uint32_t>(src, dst, n);
    case DType::U64:
      return convert_ints<uint64_t>(src, dst, n);
    case DType::F8_E4M3: {
      const uint8_t* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = e4m3_to_f32(s[i]);
      return;
    }
    case DType::F8_E5M2: {
      const uint8_t* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = e5m2_to_f32(s[i]);
      return;
    }
  }
}

void convert_from_f32(const float* src, DType dst_type, void* dst, size_t n) {
  switch (dst_type) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    default:
      fail("convert_from_f32: cannot convert to ", dtype_name(dst_type));
  }
}

}  // namespace rcc
