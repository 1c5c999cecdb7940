#include "train/optimizer.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"

namespace rcc {

AdamW::AdamW(const ParamLayout& layout, AdamWConfig cfg)
    : layout_(layout), cfg_(cfg), m_(layout.new_buffer()), v_(layout.new_buffer()) {}

void AdamW::set_state(int64_t t, const Tensor& m, const Tensor& v) {
  RCC_CHECK(t >= 0 && m.numel() == m_.numel() && v.numel() == v_.numel() &&
                m.dtype() == DType::F32 && v.dtype() == DType::F32,
            "optimizer state does not match the model's parameters");
  t_ = t;
  std::memcpy(m_.raw(), m.raw(), m_.nbytes());
  std::memcpy(v_.raw(), v.raw(), v_.nbytes());
}

void AdamW::step(const Tensor& params, const Tensor& grads, double lr) {
  RCC_CHECK(params.numel() == m_.numel() && grads.numel() == m_.numel(),
            "AdamW: buffers do not match the layout");
  ++t_;
  // Scalars in double, applied in f32, as torch does.
  const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, double(t_));
  const float step_size = float(lr / bc1), bc2_sqrt = float(std::sqrt(bc2));
  const float w_lerp = float(1.0 - cfg_.beta1), b2 = float(cfg_.beta2),
              one_minus_b2 = float(1.0 - cfg_.beta2), eps = float(cfg_.eps);
  const float decay = float(1.0 - lr * cfg_.weight_decay);
  float* p = params.f32();
  const float* g = grads.f32();
  float* m = m_.f32();
  float* v = v_.f32();
  for (const ParamEntry& e : layout_.entries()) {
    const bool decayed = cfg_.weight_decay != 0 && (cfg_.decay_vectors || e.shape.size() >= 2);
    parallel_for(
        e.numel,
        [&](int64_t b, int64_t end) {
          for (int64_t i = e.offset + b; i < e.offset + end; ++i) {
            if (decayed) p[i] *= decay;
            m[i] = m[i] + w_lerp * (g[i] - m[i]);  // torch.lerp for weight < 0.5
            v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
            const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
            p[i] = p[i] - step_size * (m[i] / denom);
          }
        },
        4096);
  }
}

double clip_grad_norm(const Tensor& grads, double max_norm) {
  const int64_t n = grads.numel();
  const float* g = grads.f32();
  const int64_t chunk = 1 << 16, nchunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(nchunks), 0.0);
  parallel_for(nchunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      double s = 0;
      for (int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) s += double(g[i]) * g[i];
      partial[size_t(c)] = s;
    }
  });
  double sq = 0;
  for (double s : partial) sq += s;  // fixed order: the same at every thread count
  const double norm = std::sqrt(sq);
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = float(coef);
      float* gm = grads.f32();
      parallel_for(
          n,
          [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) gm[i] *= c;
          },
          1 << 14);
    }
  }
  return norm;
}

}  // namespace rcc
