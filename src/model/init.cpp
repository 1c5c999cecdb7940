#include "model/init.h"

#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace rcc {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Tensor normal_matrix(Shape shape, DType t, uint64_t seed, float stddev) {
  Tensor f = Tensor::empty(DType::F32, std::move(shape));
  fill_normal(f.f32(), f.numel(), seed, stddev);
  return t == DType::F32 ? f : f.to(t);
}

Tensor filled(int64_t n, float v) {
  Tensor t = Tensor::empty(DType::F32, {n});
  std::fill(t.f32(), t.f32() + n, v);
  return t;
}

}  // namespace

void fill_normal(float* dst, int64_t n, uint64_t seed, float stddev) {
  // Box-Muller on pairs; element i depends only on (seed, i / 2).
  parallel_for((n + 1) / 2,
               [&](int64_t b, int64_t e) {
                 for (int64_t p = b; p < e; ++p) {
                   uint64_t r = splitmix64(seed * 0x100000001b3ull + uint64_t(p));
                   double u1 = (double((r >> 11) & ((1ull << 26) - 1)) + 1.0) / double(1ull << 26);
                   double u2 = double(r >> 37) / double(1ull << 27);
                   double rad = std::sqrt(-2.0 * std::log(u1)) * stddev;
                   dst[2 * p] = float(rad * std::cos(2 * M_PI * u2));
                   if (2 * p + 1 < n) dst[2 * p + 1] = float(rad * std::sin(2 * M_PI * u2));
                 }
               },
               4096);
}

ModelWeights init_random_weights(const ModelConfig& cfg, DType t, uint64_t seed, float stddev) {
  const int64_t V = cfg.vocab_size, H = cfg.hidden_size, I = cfg.intermediate_size;
  const int64_t M = cfg.mlp_in_rows(), QKV = cfg.qkv_width(), hd = cfg.head_dim();
  uint64_t s = seed * 1000003;
  ModelWeights w;
  w.llama = cfg.llama_family();
  w.embed_in = normal_matrix({V, H}, t, ++s, stddev);
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    LayerWeights l;
    l.ln1_w = filled(H, 1.0f);
    l.ln2_w = filled(H, 1.0f);
    if (!cfg.rms_norm) {
      l.ln1_b = filled(H, 0.0f);
      l.ln2_b = filled(H, 0.0f);
    }
    l.qkv_w = normal_matrix({QKV, H}, t, ++s, stddev);
    l.dense_w = normal_matrix({H, cfg.q_width()}, t, ++s, stddev);
    if (cfg.qkv_bias) l.qkv_b = filled(QKV, 0.0f);
    if (cfg.out_bias) l.dense_b = filled(H, 0.0f);
    if (cfg.qk_norm) {
      l.q_norm_w = filled(hd, 1.0f);
      l.k_norm_w = filled(hd, 1.0f);
    }
    l.fc_in_w = normal_matrix({M, H}, t, ++s, stddev);
    l.fc_out_w = normal_matrix({H, I}, t, ++s, stddev);
    if (cfg.mlp_bias) {
      l.fc_in_b = filled(M, 0.0f);
      l.fc_out_b = filled(H, 0.0f);
    }
    w.layers.push_back(std::move(l));
  }
  w.final_ln_w = filled(H, 1.0f);
  if (!cfg.rms_norm) w.final_ln_b = filled(H, 0.0f);
  w.embed_out = cfg.tie_word_embeddings ? w.embed_in : normal_matrix({V, H}, t, ++s, stddev);
  return w;
}

}  // namespace rcc
