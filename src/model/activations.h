// What a training forward keeps for its backward pass. Per layer, per row (Q, QKV, M of
// model/config.h):
//   x_in [H]   the layer's input            ln1 [H]  input_layernorm output
//   qkv [QKV]  the fused qkv product (AttentionShape's layout), q and k normed (Qwen3) and
//              rotated in place (what attention and its backward read)
//   qkv_pre [QKV]  Qwen3 only: the qkv product before the q/k norms
//   attn [Q]   attention output before the dense projection
//   x_mid [H]  serial residual only: x_in + attention (the input of post_attention_layernorm)
//   ln2 [H]    post_attention_layernorm output
//   pre [M]    MLP input product (GELU input, or SwiGLU's gate | up)   act [I]  activation output
// plus the input of the final layer norm [rows, H]. Everything lives in one allocation of the
// model's backend (activation dtype: f32 on the CPU, bf16 on CUDA), carved into per-layer views
// (llm.c style); rows are those of one forward call (all its sequences stacked).
// A forward that keeps only some rows of its output (Transformer::forward_train_rows, the RCC
// encoder's slots) runs the last layer's output part on those n rows alone: that layer's x_mid,
// ln2, pre, act and the final layer norm's input then hold n rows, and kx_in [n, H] / kattn
// [n, Q] hold the layer input and the attention output gathered at the kept rows.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace rcc {

struct LayerActivations {
  void *x_in = nullptr, *ln1 = nullptr, *qkv = nullptr, *qkv_pre = nullptr, *attn = nullptr,
       *x_mid = nullptr, *ln2 = nullptr, *pre = nullptr, *act = nullptr;
  float* lse = nullptr;  // f32 [rows, heads]: the attention rows' log-sum-exps (backend.h)
  void *kx_in = nullptr, *kattn = nullptr;  // kept-rows forward, last layer only
};

class Activations {
 public:
  // Sizes the store for `rows` rows of a model with config `cfg` on backend `be` (reuses the
  // allocation when it is large enough). `kept` >= 0: a kept-rows forward of that many rows.
  void reset(const ModelConfig& cfg, Backend& be, int64_t rows, int64_t kept = -1);
  int64_t rows() const { return rows_; }
  // -1 for a forward of every row; else the number of kept rows (keep.size()).
  int64_t kept() const { return kept_; }
  const LayerActivations& layer(int64_t i) const { return layers_[size_t(i)]; }
  void* final_in() const { return final_in_; }
  size_t bytes() const { return buf_.bytes(); }

  // The sequences of the recorded forward, as (first row, row count); each from position 0.
  std::vector<std::pair<int64_t, int64_t>> seqs;
  // The kept rows of a kept-rows forward, in output order.
  std::vector<int64_t> keep;

 private:
  int64_t rows_ = 0, kept_ = -1;
  DeviceBuffer buf_, lse_buf_;
  std::vector<LayerActivations> layers_;
  void* final_in_ = nullptr;
};

}  // namespace rcc
