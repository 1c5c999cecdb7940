// Transformer hyper-parameters, read from a Hugging Face config.json (spec §1.1, §1.6): GPT-NeoX
// (Pythia) and the Llama family (Llama 2/3, Qwen2, Qwen3, Mistral), which one model definition
// (model/transformer.h) runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/attention_shape.h"

namespace rcc {

// How the rotary frequencies are rescaled for long contexts (rope_scaling / rope_parameters).
struct RopeScaling {
  enum class Type { None, Linear, Llama3 } type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // Llama 3
  int64_t original_max_position_embeddings = 8192;       // Llama 3
};

struct ModelConfig {
  // "gpt_neox", or one of the Llama family: "llama", "qwen2", "qwen3", "mistral".
  std::string model_type = "gpt_neox";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;  // H
  int64_t num_layers = 0;   // L
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;       // 0: num_heads (no grouped-query attention)
  int64_t head_dim_override = 0;  // 0: H / num_heads (Qwen3 sets its own)
  int64_t intermediate_size = 0;  // I (4H for Pythia)
  double rotary_pct = 0.25;       // also `partial_rotary_factor` (the Llama family: 1)
  double rotary_base = 10000.0;   // also `rope_theta`
  RopeScaling rope_scaling;
  double norm_eps = 1e-5;  // layer_norm_eps or rms_norm_eps
  // GPT-NeoX: LayerNorm with bias, GELU MLP fc_out(gelu(fc_in x)), optional parallel residual.
  // The Llama family: RMSNorm (weight only), SwiGLU MLP down(silu(gate x) · up x), serial.
  bool rms_norm = false;
  bool gated_mlp = false;
  bool use_parallel_residual = true;
  bool qkv_bias = true;        // biases of the q, k, v projections (GPT-NeoX, Qwen2)
  bool out_bias = true;        // bias of the attention output projection
  bool mlp_bias = true;        // biases of the MLP products
  bool qk_norm = false;        // Qwen3: RMSNorm over each head of q and of k before the rotation
  int64_t sliding_window = 0;  // Mistral: keys further back than this are not seen
  std::vector<bool> sliding_layers;  // the layers the window applies to (empty: every layer)
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 2048;
  std::string torch_dtype = "float32";
  int64_t bos_token_id = -1;  // -1: none given
  std::vector<int32_t> eos_token_ids = {0};

  bool llama_family() const { return model_type != "gpt_neox"; }
  int64_t kv_heads() const { return num_kv_heads > 0 ? num_kv_heads : num_heads; }
  int64_t head_dim() const {
    return head_dim_override > 0 ? head_dim_override : hidden_size / num_heads;
  }
  int64_t rotary_dims() const { return int64_t(double(head_dim()) * rotary_pct); }
  int64_t q_width() const { return num_heads * head_dim(); }
  int64_t kv_width() const { return kv_heads() * head_dim(); }
  int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
  // Rows of the fused MLP input product: I, or 2I for SwiGLU ([gate I | up I]).
  int64_t mlp_in_rows() const { return gated_mlp ? 2 * intermediate_size : intermediate_size; }
  // The attention geometry of layer `layer` (its window, if it slides).
  AttentionShape attention(int64_t layer) const;
  // The rotary frequencies, computed in f32 as Hugging Face does (scaling included).
  Rope rope() const;
  int64_t parameter_count() const;  // embeddings + layers + final norm + head

  // Parses the JSON text of config.json; `source` names it in error messages.
  static ModelConfig parse(const std::string& json_text, const std::string& source);
  static ModelConfig load(const std::string& path);
  std::string to_json() const;  // config.json as transformers writes it for this model_type
};

}  // namespace rcc
