// AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW computes it
// (single-tensor path), over the flat buffers of a ParamLayout; and gradient clipping by global
// norm as torch.nn.utils.clip_grad_norm_.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "train/param_arena.h"

namespace rcc {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
  // Decay only tensors of 2+ dimensions (matrices, embeddings); biases and layer norms never.
  bool decay_vectors = false;
};

class AdamW {
 public:
  AdamW(const ParamLayout& layout, AdamWConfig cfg);

  // One update at learning rate lr (t := t + 1):
  //   θ ← θ·(1 − lr·wd)  (decayed tensors only)
  //   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
  //   θ ← θ − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)
  void step(const Tensor& params, const Tensor& grads, double lr);

  int64_t t() const { return t_; }
  const AdamWConfig& config() const { return cfg_; }
  Tensor& m() { return m_; }  // first moments, f32 [layout.total()]
  Tensor& v() { return v_; }  // second moments
  // Restores a saved state (resume).
  void set_state(int64_t t, const Tensor& m, const Tensor& v);

 private:
  const ParamLayout& layout_;
  AdamWConfig cfg_;
  int64_t t_ = 0;
  Tensor m_, v_;
};

// Global L2 norm of `grads` (the layout's buffer; padding is zero); when it exceeds max_norm, every
// gradient is multiplied by max_norm / (norm + 1e-6). Returns the norm before clipping. max_norm <=
// 0 only measures.
double clip_grad_norm(const Tensor& grads, double max_norm);

}  // namespace rcc
