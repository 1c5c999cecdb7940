#include "kernels/cpu_isa.h"

#include <algorithm>

#include "core/settings.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define RCC_X86 1
#endif

namespace rcc::kernels {

namespace {

#ifdef RCC_X86
bool bit(unsigned v, int b) {
  return (v >> b) & 1u;
}

unsigned long long xcr0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = bit(c, 12), f16c = bit(c, 29), osxsave = bit(c, 27);
  if (!osxsave) return f;
  const unsigned long long x = xcr0();
  const bool ymm = (x & 0x6) == 0x6, zmm = (x & 0xe6) == 0xe6, tiles = (x & 0x60000) == 0x60000;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm && fma && f16c && bit(b, 5);
  f.avx512 = f.avx2 && zmm && bit(b, 16) && bit(b, 17) && bit(b, 30) && bit(b, 31);
  f.avx512_vnni = f.avx512 && bit(c, 11);
  f.amx_bf16 = tiles && bit(d, 22);
  f.amx_tile = tiles && bit(d, 24);
  f.amx_int8 = tiles && bit(d, 25);
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) {
    f.avx_vnni = f.avx2 && bit(a1, 4);
    f.avx512_bf16 = f.avx512 && bit(a1, 5);
  }
  return f;
}
#else
CpuFeatures detect() {
  return {};
}
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::Avx512:
      return "avx512";
    case Level::Avx2:
      return "avx2";
    default:
      return "generic";
  }
}

Level best_level() {
  const CpuFeatures& f = cpu_features();
  return f.avx512 ? Level::Avx512 : f.avx2 ? Level::Avx2 : Level::Generic;
}

Level active_level() {
  const int cap = runtime_settings().cpu_kernels;  // -1: no cap
  const Level best = best_level();
  return cap < 0 ? best : std::min(best, static_cast<Level>(cap));
}

}  // namespace rcc::kernels
