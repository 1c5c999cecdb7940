// The parameters of one GPT-NeoX network (spec §1.2), loaded from a checkpoint under a name prefix
// ("" for a plain model, "gpt_neox.rcc_encoder." for the RCC encoder). Matrices keep their stored
// dtype (F32, BF16 or F16; often borrowed from the mapped file); vectors (norms, biases) are f32.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace rcc {

class Checkpoint;

struct LayerWeights {
  Tensor ln1_w, ln1_b;        // input_layernorm              [H]
  Tensor qkv_w, qkv_b;        // attention.query_key_value    [3H, H], [3H]; rows = [heads, 3, hd]
  Tensor dense_w, dense_b;    // attention.dense            [H, H], [H]
  Tensor ln2_w, ln2_b;        // post_attention_layernorm     [H]
  Tensor fc_in_w, fc_in_b;    // mlp.dense_h_to_4h        [I, H], [I]
  Tensor fc_out_w, fc_out_b;  // mlp.dense_4h_to_h        [H, I], [H]
};

struct GPTNeoXWeights {
  Tensor embed_in;  // gpt_neox.embed_in.weight        [V, H]
  std::vector<LayerWeights> layers;
  Tensor final_ln_w, final_ln_b;  // gpt_neox.final_layer_norm       [H]
  Tensor embed_out;               // embed_out.weight                [V, H] (undefined: no head)

  // Loads and shape-checks every tensor; `with_head` = false skips embed_out (RCC encoder).
  static GPTNeoXWeights load(const Checkpoint& ckpt, const GPTNeoXConfig& cfg,
                             const std::string& prefix = "", bool with_head = true);
  // Names in checkpoint order, for writers: (name, tensor).
  std::vector<std::pair<std::string, Tensor>> named(const std::string& prefix = "") const;
  // Calls f(name, tensor) for every defined tensor in the order of named(); f may replace the
  // tensor (training swaps in views of one parameter allocation, or gradient buffers).
  void visit(const std::string& prefix, const std::function<void(const std::string&, Tensor&)>& f);
  // Puts the linear layers' matrices in q8 form (quantize_linear_weights below); returns how many.
  int64_t quantize_linear_q8();
};

// Replaces, in a named() list, the matrices of linear layers (attention, MLP, LM head; not the
// input embedding, whose rows are looked up) by their q8 form (ops/quant.h). Returns how many.
int64_t quantize_linear_weights(std::vector<std::pair<std::string, Tensor>>& named);

}  // namespace rcc
