// The CPU's instruction sets and the kernel level chosen from them, at run time: one binary built
// for x86-64-v3 (AVX2) carries every level and takes the widest one this processor and its OS
// support. RCC_CPU_KERNELS (core/settings.h) can cap the choice, e.g. to compare levels.
#pragma once
#include <string>

namespace rcc::kernels {

// What this processor offers (cpuid), counted only where the OS saves the registers (xgetbv).
struct CpuFeatures {
  bool avx2 = false;         // AVX2 + FMA + F16C (x86-64-v3)
  bool avx512 = false;       // AVX-512 F, BW, VL, DQ
  bool avx512_bf16 = false;  // AVX512_BF16: vdpbf16ps
  bool avx512_vnni = false;  // AVX512_VNNI: vpdpbusd on 512-bit vectors
  bool avx_vnni = false;     // AVX-VNNI: vpdpbusd on 256-bit vectors
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;  // detected and reported only
};

const CpuFeatures& cpu_features();

// Kernel levels, each a superset of the one before.
enum class Level { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* level_name(Level l);  // "generic", "avx2", "avx512"
// The widest level this machine runs.
Level best_level();
// The level in use: best_level() capped by RCC_CPU_KERNELS.
Level active_level();

}  // namespace rcc::kernels
