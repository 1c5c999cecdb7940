#include "train/optimizer.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"

namespace rcc {

AdamW::AdamW(const ParamLayout& layout, AdamWConfig cfg, Backend& be)
    : layout_(layout),
      cfg_(cfg),
      be_(&be),
      m_(be, size_t(layout.total()) * 4),
      v_(be, size_t(layout.total()) * 4) {
  be.zero(m_.get(), m_.bytes());
  be.zero(v_.get(), v_.bytes());
}

void AdamW::set_state(int64_t t, const Tensor& m, const Tensor& v) {
  const int64_t n = layout_.total();
  RCC_CHECK(t >= 0 && m.numel() == n && v.numel() == n && m.dtype() == DType::F32 &&
                v.dtype() == DType::F32,
            "optimizer state does not match the model's parameters");
  t_ = t;
  be_->copy_to_device(m_.get(), m.raw(), m_.bytes());
  be_->copy_to_device(v_.get(), v.raw(), v_.bytes());
}

Tensor AdamW::download(const DeviceBuffer& b) const {
  Tensor h = layout_.new_buffer();
  be_->copy_to_host(h.raw(), b.get(), h.nbytes());
  return h;
}
Tensor AdamW::m() const {
  return download(m_);
}
Tensor AdamW::v() const {
  return download(v_);
}

void AdamW::step(const Tensor& params, const Tensor& grads, double lr) {
  RCC_CHECK(be_->is_host(), "AdamW: host tensors given to an optimizer on ", be_->name());
  RCC_CHECK(params.numel() == layout_.total() && grads.numel() == layout_.total(),
            "AdamW: buffers do not match the layout");
  step(params.f32(), grads.f32(), lr);
}

void AdamW::step(float* p, const float* g, double lr) {
  step(p, g, lr, 1.0f, {});
}

void AdamW::step(float* p, const float* g, double lr, float grad_scale,
                 std::span<void* const> compute) {
  const auto& entries = layout_.entries();
  RCC_CHECK(compute.empty() || compute.size() == entries.size(), "AdamW: ", compute.size(),
            " compute copies for ", entries.size(), " tensors");
  ++t_;
  // Scalars in double, applied in f32, as torch does.
  const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, double(t_));
  const float step_size = float(lr / bc1), bc2_sqrt = float(std::sqrt(bc2));
  const float decay = float(1.0 - lr * cfg_.weight_decay);
  float* m = static_cast<float*>(m_.get());
  float* v = static_cast<float*>(v_.get());
  // The layout and config never change; only the compute copies can (a new span each step).
  auto compute_at = [&](size_t i) { return compute.empty() ? nullptr : compute[i]; };
  bool rebuild = tensors_.size() != entries.size();
  for (size_t i = 0; i < entries.size() && !rebuild; ++i)
    rebuild = tensors_[i].compute != compute_at(i);
  if (rebuild) {
    tensors_.resize(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const ParamEntry& e = entries[i];
      Backend::AdamWTensor& t = tensors_[i];
      t.offset = e.offset;
      t.numel = e.numel;
      t.decayed = cfg_.weight_decay != 0 && (cfg_.decay_vectors || e.shape.size() >= 2);
      t.compute = compute_at(i);
      t.compute_matrix = e.shape.size() >= 2;
    }
  }
  be_->adamw_tensors(p, g, m, v, tensors_, decay, cfg_.beta1, cfg_.beta2, cfg_.eps, step_size,
                     bc2_sqrt, grad_scale);
}

double clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0) return 1.0;
  const double coef = max_norm / (norm + 1e-6);
  return coef < 1.0 ? coef : 1.0;
}

double grad_norm(Backend& be, const float* grads, int64_t n) {
  return std::sqrt(be.sum_squares(grads, n));
}

double clip_grad_norm(Backend& be, float* grads, int64_t n, double max_norm) {
  const double norm = grad_norm(be, grads, n);
  const double coef = clip_coefficient(norm, max_norm);
  if (coef < 1.0) be.scale_f32(grads, n, float(coef));
  return norm;
}

double clip_grad_norm(const Tensor& grads, double max_norm) {
  return clip_grad_norm(cpu_backend(), grads.f32(), grads.numel(), max_norm);
}

}  // namespace rcc
