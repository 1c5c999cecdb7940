// Element types of stored tensors and conversions to and from f32 (the compute type on the CPU).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace rcc {

// Compute-relevant types first; the rest exist so that any valid safetensors file opens (buffers
// such as `attention.bias` are BOOL in old checkpoints) and are converted, where sensible, to f32.
enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  I32,
  I64,
  F64,
  I16,
  I8,
  U8,
  U16,
  U32,
  U64,
  BOOL,
  F8_E4M3,
  F8_E5M2
};

// Block-quantized matrices (ops/quant.h): int8 values, one F16 scale per this many along a row.
constexpr int64_t kQuantBlock = 32;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
bool dtype_from_name(const std::string& name, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even; NaN stays a quiet NaN. Branch-free, so that loops over it vectorise.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
// FP8 E4M3 (the "fn" variant: bias 7, no infinities, S.1111.111 NaN, largest finite 448,
// subnormals down to 2^-9) and E5M2 (bias 15, IEEE-like with infinities).
float e4m3_to_f32(uint8_t b);
float e5m2_to_f32(uint8_t b);
// Round to nearest even, saturating to ±448 (as CUDA's __NV_SATFINITE); NaN stays NaN (0x7F).
uint8_t f32_to_e4m3(float f);

// Convert n elements of type `src_type` at `src` to f32.
void convert_to_f32(DType src_type, const void* src, float* dst, size_t n);
// Convert n f32 values to `dst_type` (F32, F16 or BF16).
void convert_from_f32(const float* src, DType dst_type, void* dst, size_t n);

}  // namespace rcc
