// Backward of ops::rotary_qkv (see rotary.h).
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/rotary.h"

namespace rcc::ops {

namespace {

// The forward's angles (rotary_cpu.cpp), bit for bit: inv_freq = 1 / base^(2i/rot) in float,
// angle = float(pos) · inv_freq, cos/sin rounded to float.
void angles(int64_t rot, int64_t pos, double base, float* c, float* s) {
  const int64_t half = rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    float expo = float(2 * i) / float(rot);
    float inv = 1.0f / std::pow(float(base), expo);
    float a = float(pos) * inv;
    c[i] = float(std::cos(double(a)));
    s[i] = float(std::sin(double(a)));
  }
}

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

void rotary_qkv_backward(float* dqkv, int64_t rows, int64_t heads, int64_t head_dim, int64_t rot,
                         int64_t pos0, double base) {
  if (rot == 0) return;
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> c(static_cast<size_t>(rot / 2)), s(size_t(rot / 2));
        for (int64_t r = r0; r < r1; ++r) {
          angles(rot, pos0 + r, base, c.data(), s.data());
          float* row = dqkv + r * heads * 3 * head_dim;
          for (int64_t h = 0; h < heads; ++h) {
            rotate_back(row + h * 3 * head_dim, rot / 2, c.data(), s.data());             // dq
            rotate_back(row + h * 3 * head_dim + head_dim, rot / 2, c.data(), s.data());  // dk
          }
        }
      },
      8);
}

}  // namespace rcc::ops
