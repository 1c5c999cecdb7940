#include "kernels/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"
#include "kernels/common.h"

namespace rcc::kernels {

const Kernels& kernels_at(Level l) {
  RCC_CHECK(l <= best_level(), "CPU kernels '", level_name(l),
            "' requested, but this CPU runs at most '", level_name(best_level()), "'");
  switch (l) {
    case Level::Avx512:
      return avx512_kernels();
    case Level::Avx2:
      return avx2_kernels();
    default:
      return generic_kernels();
  }
}

namespace {
std::atomic<const Kernels*> g_active{nullptr};
}

const Kernels& kernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    k = &kernels_at(active_level());
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

Level use_level(Level l) {
  const Level old = kernels().level;
  g_active.store(&kernels_at(l), std::memory_order_release);
  return old;
}

std::string describe_kernels() {
  const CpuFeatures& f = cpu_features();
  const Level l = kernels().level;
  std::string used, other;
  auto add = [](std::string& s, const char* name) {
    s += (s.empty() ? "" : ", ") + std::string(name);
  };
  if (l == Level::Avx512) {
    (f.avx512_vnni ? add(used, "vnni") : add(other, "no vnni"));
  } else if (l == Level::Avx2) {
    if (f.avx512) add(other, "avx512");
  }
  if (f.avx512_bf16) add(other, "bf16");
  if (f.avx_vnni) add(other, "avx-vnni");
  if (f.amx_int8) add(other, "amx-int8");
  if (f.amx_bf16) add(other, "amx-bf16");
  std::string s = level_name(l);
  if (!used.empty() || !other.empty()) {
    s += " (";
    s += used;
    if (!other.empty()) s += (used.empty() ? "" : "; ") + std::string("cpu also has: ") + other;
    s += ")";
  }
  return s;
}

void quantize_rows_q8(int64_t M, int64_t K, const float* x, int64_t ldx, int8_t* xq, float* xd) {
  const int64_t blocks = K / kQ8Block;
  for (int64_t r = 0; r < M; ++r)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* s = x + r * ldx + b * kQ8Block;
      float amax = 0.0f;
      for (int64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(s[i]));
      const float d = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      xd[r * blocks + b] = d;
      int8_t* q = xq + r * K + b * kQ8Block;
      for (int64_t i = 0; i < kQ8Block; ++i) {
        // NaN → 0 (and a non-finite block scale makes the products non-finite, as in f32).
        const float v = std::clamp(s[i] * inv, -127.0f, 127.0f);
        q[i] = v == v ? int8_t(std::nearbyint(v)) : int8_t(0);
      }
    }
}

}  // namespace rcc::kernels
