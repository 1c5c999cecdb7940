// An RCC model being trained: every weight (decoder, E, A_i, encoder) as an f32 view into one
// parameter buffer, and gradients of the same shapes as views into one gradient buffer, both on
// the training backend. The RCCModel it exposes runs the ordinary inference code (its tensors are
// the views), so what is trained is exactly what `rcc ask` runs after RCCModel::save.
//
// On the CPU the f32 master weights are what the model computes with. On a device (CUDA) the f32
// masters and gradients live on the device; the model computes with a copy that the optimizer
// step writes (compute_targets()) or after_update() refreshes: matrices in bf16, vectors (norms,
// biases) in f32, each 256-byte aligned; a host
// mirror of the masters (values()) is refreshed by sync_to_host() for saving and fingerprints.
#pragma once
#include <vector>

#include "model/activations.h"
#include "rcc/rcc_model.h"
#include "train/param_arena.h"

namespace rcc {

// Gradients shaped like the RCC weights (f32 views into the gradient buffer, on the backend).
struct RCCGrads {
  ModelWeights encoder, decoder;
  Tensor embed_proj;
  std::vector<Tensor> layer_proj;
};

class TrainableRCC {
 public:
  // Copies (and converts to f32) every weight of `init` into the parameter buffer on `be`. The
  // layout follows RCCModel::save: decoder, E, A_0..A_{L-1}, encoder (checkpoint names).
  explicit TrainableRCC(const RCCModel& init, Backend& be = cpu_backend());
  TrainableRCC(const TrainableRCC&) = delete;
  TrainableRCC& operator=(const TrainableRCC&) = delete;

  Backend& backend() const { return *be_; }
  RCCModel& model() { return model_; }
  const RCCModel& model() const { return model_; }
  const RCCGrads& grads() const { return grads_; }
  const ParamLayout& layout() const { return layout_; }

  // f32 [layout().total()] on the backend: the master weights and their gradients.
  float* master() const { return master_; }
  float* gradient_data() const { return grad_; }
  // Host f32 [layout().total()]: on the CPU the masters themselves; on a device a mirror that
  // sync_to_host() refreshes (and upload_from_host() writes back after editing it).
  const Tensor& values() const { return values_; }
  // Host gradients: on the CPU the gradient buffer itself; on a device a download.
  Tensor gradients() const;

  void zero_grad();
  // After the masters changed on the backend outside an optimizer step (upload_from_host):
  // refresh the compute copy. AdamW::step writes it itself (compute_targets()).
  void after_update();
  // Where AdamW::step writes each tensor's compute copy (layout order): empty on the CPU, which
  // computes with the masters.
  std::vector<void*> compute_targets() const;
  void sync_to_host();
  void upload_from_host();
  // Recomputes the encoder fingerprint (after sync_to_host on a device; before compressing).
  void refresh_fingerprint();

  // The training pass's activation stores (rcc_step.cpp), kept from step to step, because a
  // store of several GB allocated afresh at every step makes the device's memory pool map new
  // memory, with the GPU idle, whenever a batch is a little larger than the one before
  // (bench/results/training_gpu.md).
  Activations encoder_acts, decoder_acts;

 private:
  Backend* be_;
  ParamLayout layout_;
  Tensor values_;                                     // host masters (CPU) or host mirror (device)
  DeviceBuffer dev_master_, dev_grad_, dev_compute_;  // device only
  std::vector<size_t> compute_offset_;                // byte offset of each entry in dev_compute_
  Tensor host_grad_;                                  // CPU only: the gradient buffer
  float* master_ = nullptr;
  float* grad_ = nullptr;
  RCCModel model_;
  RCCGrads grads_;
};

}  // namespace rcc
