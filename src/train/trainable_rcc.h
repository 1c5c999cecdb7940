// An RCC model being trained: every weight (decoder, E, A_i, encoder) as an f32 view into one
// parameter buffer, and gradients of the same shapes as views into one gradient buffer. The
// RCCModel it exposes runs the ordinary inference code (its tensors are the views), so what is
// trained is exactly what `rcc ask` runs after RCCModel::save.
#pragma once
#include <vector>

#include "rcc/rcc_model.h"
#include "train/param_arena.h"

namespace rcc {

// Gradients shaped like the RCC weights (f32 views into the gradient buffer).
struct RCCGrads {
  GPTNeoXWeights encoder, decoder;
  Tensor embed_proj;
  std::vector<Tensor> layer_proj;
};

class TrainableRCC {
 public:
  // Copies (and converts to f32) every weight of `init` into the parameter buffer. The layout
  // follows RCCModel::save: decoder, E, A_0..A_{L-1}, encoder (checkpoint names).
  explicit TrainableRCC(const RCCModel& init);
  TrainableRCC(const TrainableRCC&) = delete;
  TrainableRCC& operator=(const TrainableRCC&) = delete;

  RCCModel& model() { return model_; }
  const RCCModel& model() const { return model_; }
  const RCCGrads& grads() const { return grads_; }
  const ParamLayout& layout() const { return layout_; }
  const Tensor& values() const { return values_; }       // f32 [layout().total()]
  const Tensor& gradients() const { return grad_buf_; }  // f32 [layout().total()]
  void zero_grad();
  // Recomputes the encoder fingerprint (call after the weights changed, before compressing).
  void refresh_fingerprint();

 private:
  ParamLayout layout_;
  Tensor values_, grad_buf_;
  RCCModel model_;
  RCCGrads grads_;
};

}  // namespace rcc
