#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/rotary.h"

namespace rcc::ops {

namespace {

// cos/sin of the angles for one position, computed as the reference does in float32:
// inv_freq = 1 / base^(2i/rot), angle = float(pos) * inv_freq.
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

void rotate(float* v, int64_t half, const float* c, const float* s) {
  for (int64_t i = 0; i < half; ++i) {
    float x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c[i] - x2 * s[i];
    v[i + half] = x2 * c[i] + x1 * s[i];
  }
}

}  // namespace

void rotary_apply(float* v, int64_t rot, int64_t pos, double base) {
  if (rot == 0) return;
  std::vector<float> c(static_cast<size_t>(rot / 2)), s(size_t(rot / 2));
  angles(rot, pos, base, c.data(), s.data());
  rotate(v, rot / 2, c.data(), s.data());
}

void rotary_qkv(float* qkv, int64_t rows, int64_t heads, int64_t head_dim, int64_t rot,
                int64_t pos0, double base) {
  if (rot == 0) return;
  parallel_for(rows, [&](int64_t r0, int64_t r1) {
    std::vector<float> c(static_cast<size_t>(rot / 2)), s(size_t(rot / 2));
    for (int64_t r = r0; r < r1; ++r) {
      angles(rot, pos0 + r, base, c.data(), s.data());
      float* row = qkv + r * heads * 3 * head_dim;
      for (int64_t h = 0; h < heads; ++h) {
        rotate(row + h * 3 * head_dim, rot / 2, c.data(), s.data());             // q
        rotate(row + h * 3 * head_dim + head_dim, rot / 2, c.data(), s.data());  // k
      }
    }
  }, 8);
}

}  // namespace rcc::ops
