// GPT-NeoX hyper-parameters, read from a Hugging Face config.json (spec §1.1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rcc {

struct GPTNeoXConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;  // H
  int64_t num_layers = 0;   // L
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;  // I (4H for Pythia)
  double rotary_pct = 0.25;       // also `partial_rotary_factor`
  double rotary_base = 10000.0;   // also `rope_theta`
  double layer_norm_eps = 1e-5;
  bool use_parallel_residual = true;
  bool attention_bias = true;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 2048;
  std::string torch_dtype = "float32";
  std::vector<int32_t> eos_token_ids = {0};

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t rotary_dims() const { return int64_t(double(head_dim()) * rotary_pct); }
  int64_t parameter_count() const;  // embed_in + layers + final norm + embed_out

  // Parses the JSON text of config.json; `source` names it in error messages.
  static GPTNeoXConfig parse(const std::string& json_text, const std::string& source);
  static GPTNeoXConfig load(const std::string& path);
  std::string to_json() const;  // Pythia-style config.json
};

}  // namespace rcc
