// Backward of ops::rotary_qkv (see rotary.h).
#include <vector>

#include "core/thread_pool.h"
#include "ops/rotary.h"

namespace rcc::ops {

namespace {

// Forward: (x1, x2) -> (x1 c − x2 s, x2 c + x1 s). Transpose: (g1, g2) -> (g1 c + g2 s, g2 c − g1
// s).
void rotate_back(float* g, int64_t half, const float* c, const float* s) {
  for (int64_t i = 0; i < half; ++i) {
    const float g1 = g[i], g2 = g[i + half];
    g[i] = g1 * c[i] + g2 * s[i];
    g[i + half] = g2 * c[i] - g1 * s[i];
  }
}

}  // namespace

void rotary_qkv_backward(float* dqkv, int64_t rows, const AttentionShape& sh, const Rope& rope,
                         int64_t pos0) {
  if (rope.dims == 0) return;
  const int64_t half = rope.dims / 2, width = sh.qkv_width();
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> c(static_cast<size_t>(half)), s(c.size());
        for (int64_t r = r0; r < r1; ++r) {
          rotary_angles(rope, pos0 + r, c.data(), s.data());  // the forward's angles, bit for bit
          float* row = dqkv + r * width;
          for (int64_t h = 0; h < sh.heads; ++h)
            rotate_back(row + sh.q_at(h), half, c.data(), s.data());
          for (int64_t j = 0; j < sh.kv_heads; ++j)
            rotate_back(row + sh.k_at(j), half, c.data(), s.data());
        }
      },
      8);
}

}  // namespace rcc::ops
