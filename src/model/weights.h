// The parameters of one transformer (spec §1.2, §1.6), loaded from a checkpoint under a name prefix
// ("" for a plain model, "gpt_neox.rcc_encoder." for the RCC encoder). Matrices keep their stored
// dtype (F32, BF16 or F16; often borrowed from the mapped file); vectors (norms, biases) are f32.
// The fields are named for GPT-NeoX; the Llama family's tensors map onto them (names in
// weights.cpp), with q/k/v and gate/up fused into one matrix each (a copy when the checkpoint
// stores them apart, as Hugging Face does).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace rcc {

class Checkpoint;

// Shapes: Q = q_width, KV = kv_width, QKV = Q + 2 KV, M = mlp_in_rows (I, or 2I for SwiGLU),
// hd = head_dim (model/config.h). Biases and norm biases are undefined where the model has none.
struct LayerWeights {
  Tensor ln1_w, ln1_b;  // input_layernorm  [H]
  // attention.query_key_value / self_attn.{q,k,v}_proj  [QKV, H], [QKV]: rows in the fused qkv
  // layout of AttentionShape (GPT-NeoX [heads, 3, hd]; Llama [q | k | v]).
  Tensor qkv_w, qkv_b;
  Tensor dense_w, dense_b;    // attention.dense / self_attn.o_proj  [H, Q], [H]
  Tensor q_norm_w, k_norm_w;  // self_attn.{q,k}_norm  [hd] (Qwen3)
  Tensor ln2_w, ln2_b;        // post_attention_layernorm  [H]
  Tensor fc_in_w, fc_in_b;    // mlp.dense_h_to_4h / mlp.{gate,up}_proj  [M, H], [M]
  Tensor fc_out_w, fc_out_b;  // mlp.dense_4h_to_h / mlp.down_proj  [H, I], [H]
};

struct ModelWeights {
  Tensor embed_in;  // gpt_neox.embed_in / model.embed_tokens  [V, H]
  std::vector<LayerWeights> layers;
  Tensor final_ln_w, final_ln_b;  // gpt_neox.final_layer_norm / model.norm  [H]
  Tensor embed_out;    // embed_out / lm_head  [V, H] (undefined: no head; tied: embed_in)
  bool llama = false;  // names: the Llama family's (else GPT-NeoX's)

  // Loads and shape-checks every tensor; `with_head` = false skips embed_out (RCC encoder).
  static ModelWeights load(const Checkpoint& ckpt, const ModelConfig& cfg,
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
