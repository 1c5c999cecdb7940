#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/rotary.h"

namespace rcc::ops {

namespace {

void rotate(float* v, int64_t half, const float* c, const float* s) {
  for (int64_t i = 0; i < half; ++i) {
    float x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c[i] - x2 * s[i];
    v[i + half] = x2 * c[i] + x1 * s[i];
  }
}

// An odd `dims` rotates its first dims - 1 entries (pairs (i, i + dims/2), i < dims/2).
void check_rope(const Rope& rope) {
  RCC_CHECK(rope.dims >= 0 && int64_t(rope.inv_freq.size()) == rope.dims / 2,
            "rotary embedding of ", rope.dims, " dims with ", rope.inv_freq.size(), " frequencies");
}

}  // namespace

Rope default_rope(int64_t dims, double base) {
  Rope r;
  r.dims = dims;
  r.base = base;
  for (int64_t i = 0; i < dims / 2; ++i)
    r.inv_freq.push_back(1.0f / std::pow(float(base), float(2 * i) / float(dims)));
  return r;
}

// angle = float(pos) · inv_freq in f32; cos/sin of that f32 angle, rounded to f32.
void rotary_angles(const Rope& rope, int64_t pos, float* c, float* s) {
  for (int64_t i = 0; i < rope.dims / 2; ++i) {
    const float a = float(pos) * rope.inv_freq[size_t(i)];
    c[i] = float(std::cos(double(a)));
    s[i] = float(std::sin(double(a)));
  }
}

void rotary_apply(float* v, const Rope& rope, int64_t pos) {
  if (rope.dims == 0) return;
  check_rope(rope);
  std::vector<float> c(static_cast<size_t>(rope.dims / 2)), s(c.size());
  rotary_angles(rope, pos, c.data(), s.data());
  rotate(v, rope.dims / 2, c.data(), s.data());
}

void rotary_qkv(float* qkv, int64_t rows, const AttentionShape& sh, const Rope& rope,
                int64_t pos0) {
  if (rope.dims == 0) return;
  check_rope(rope);
  const int64_t half = rope.dims / 2, width = sh.qkv_width();
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        std::vector<float> c(static_cast<size_t>(half)), s(c.size());
        for (int64_t r = r0; r < r1; ++r) {
          rotary_angles(rope, pos0 + r, c.data(), s.data());
          float* row = qkv + r * width;
          for (int64_t h = 0; h < sh.heads; ++h) rotate(row + sh.q_at(h), half, c.data(), s.data());
          for (int64_t j = 0; j < sh.kv_heads; ++j)
            rotate(row + sh.k_at(j), half, c.data(), s.data());
        }
      },
      8);
}

}  // namespace rcc::ops
