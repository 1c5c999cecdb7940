// AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW computes it
// (single-tensor path), over the flat buffers of a ParamLayout; and gradient clipping by global
// norm as torch.nn.utils.clip_grad_norm_.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
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
  // The moments live on `be` (the trainer's backend).
  AdamW(const ParamLayout& layout, AdamWConfig cfg, Backend& be = cpu_backend());

  // One update at learning rate lr (t := t + 1), every tensor of the layout
  // (Backend::adamw_tensors):
  //   θ ← θ·(1 − lr·wd)  (decayed tensors only)
  //   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
  //   θ ← θ − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)
  // params, grads: f32 [layout.total()] on the backend.
  void step(float* params, const float* grads, double lr);
  // The same update in one pass (Backend::adamw_tensors), the gradients read as grads ·
  // grad_scale (clipping: clip_coefficient) and left unchanged; when `compute` is not empty,
  // tensor i's updated parameters are also written to compute[i] (null: none), matrices (2+
  // dimensions) in the backend's matrix dtype, vectors f32 (TrainableRCC::compute_targets()).
  void step(float* params, const float* grads, double lr, float grad_scale,
            std::span<void* const> compute);
  // Host tensors of the layout (the CPU backend).
  void step(const Tensor& params, const Tensor& grads, double lr);

  int64_t t() const { return t_; }
  const AdamWConfig& config() const { return cfg_; }
  // Host copies of the first and second moments, f32 [layout.total()] (checkpoints).
  Tensor m() const;
  Tensor v() const;
  // Restores a saved state (resume).
  void set_state(int64_t t, const Tensor& m, const Tensor& v);

 private:
  Tensor download(const DeviceBuffer& b) const;

  const ParamLayout& layout_;
  AdamWConfig cfg_;
  Backend* be_;
  int64_t t_ = 0;
  DeviceBuffer m_, v_;
  // step()'s table (the layout's tensors, decay flags, compute copies), rebuilt only when step()
  // is given other compute copies.
  std::vector<Backend::AdamWTensor> tensors_;
};

// Global L2 norm of the f32 gradients [n] on `be` (padding is zero); when it exceeds max_norm,
// every gradient is multiplied by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_).
// Returns the norm before clipping. max_norm <= 0 only measures.
double clip_grad_norm(Backend& be, float* grads, int64_t n, double max_norm);
// Global L2 norm of the f32 gradients [n] on `be`: sqrt(Backend::sum_squares) (synchronises).
double grad_norm(Backend& be, const float* grads, int64_t n);
// The factor clip_grad_norm multiplies the gradients by: max_norm / (norm + 1e-6) when that is
// below 1 (and max_norm > 0), else exactly 1.
double clip_coefficient(double norm, double max_norm);
// The same over a host f32 tensor (CPU backend).
double clip_grad_norm(const Tensor& grads, double max_norm);

}  // namespace rcc
