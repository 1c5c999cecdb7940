// The smallest RCC model (and a parameter layout), shared by the fuzz targets that check files
// against a model and by the seed generator (fuzz/make_seeds.cpp): vocabulary 16, hidden size 8,
// one layer of 2 heads, W 8, R 4, aligned mode. Its weights follow an integer pattern (exact in
// f32) rather than the random initialiser, so that its fingerprints do not depend on the compiler's
// or the CPU's floating-point code: the seeds written on one machine match the harness on another.
#pragma once
#include <cstdint>

#include "model/transformer.h"
#include "rcc/rcc_model.h"
#include "rcc/settings.h"
#include "train/param_arena.h"

namespace rcc::fuzz {

inline ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.num_layers = 1;
  c.num_heads = 2;
  c.intermediate_size = 16;
  c.rotary_pct = 0.5;
  c.max_position_embeddings = 64;
  return c;
}

inline RCCSettings tiny_settings() {
  RCCSettings s;
  s.window = 8;
  s.ratio = 4;
  s.mode = WindowMode::Aligned;
  s.memory_dtype = DType::F32;
  return s;
}

// Every f32 of the model's tensors: ((k · 37 + salt) mod 17 − 8) / 64, k counting the elements.
inline Tensor pattern_tensor(const Shape& shape, uint64_t salt) {
  Tensor t = Tensor::empty(DType::F32, shape);
  for (int64_t k = 0; k < t.numel(); ++k)
    t.f32()[k] = float(int64_t((uint64_t(k) * 37 + salt) % 17) - 8) / 64.0f;
  return t;
}

inline ModelWeights tiny_weights(const ModelConfig& c, uint64_t salt, bool with_head) {
  const int64_t V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
  ModelWeights w;
  w.embed_in = pattern_tensor({V, H}, salt++);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.ln1_w = pattern_tensor({H}, salt++);
    l.ln1_b = pattern_tensor({H}, salt++);
    l.qkv_w = pattern_tensor({3 * H, H}, salt++);
    l.qkv_b = pattern_tensor({3 * H}, salt++);
    l.dense_w = pattern_tensor({H, H}, salt++);
    l.dense_b = pattern_tensor({H}, salt++);
    l.ln2_w = pattern_tensor({H}, salt++);
    l.ln2_b = pattern_tensor({H}, salt++);
    l.fc_in_w = pattern_tensor({I, H}, salt++);
    l.fc_in_b = pattern_tensor({I}, salt++);
    l.fc_out_w = pattern_tensor({H, I}, salt++);
    l.fc_out_b = pattern_tensor({H}, salt++);
    w.layers.push_back(std::move(l));
  }
  w.final_ln_w = pattern_tensor({H}, salt++);
  w.final_ln_b = pattern_tensor({H}, salt++);
  if (with_head) w.embed_out = pattern_tensor({V, H}, salt++);
  return w;
}

inline RCCModel tiny_rcc_model() {
  const ModelConfig c = tiny_config();
  const int64_t H = c.hidden_size;
  RCCModel m{Transformer(c, tiny_weights(c, 1, false)),
             Transformer(c, tiny_weights(c, 100, true)),
             pattern_tensor({H, H}, 200),
             {},
             tiny_settings()};
  for (int64_t i = 0; i < c.num_layers; ++i)
    m.layer_proj.push_back(pattern_tensor({H, H}, 300 + uint64_t(i)));
  m.encoder_fingerprint = encoder_fingerprint(m.encoder, m.settings);
  m.prepare();
  return m;
}

// The memory identity the decoder-cache target expects (kv_cache_fuzz.cpp, make_seeds.cpp).
constexpr uint64_t kTinyMemoryIdentity = 0x0123456789abcdefull;

// The parameter layout training states are checked against (train_state_fuzz.cpp, make_seeds.cpp).
inline ParamLayout tiny_train_layout() {
  ParamLayout l;
  l.add("a", {3, 5});
  l.add("b", {7});
  return l;
}

}  // namespace rcc::fuzz
