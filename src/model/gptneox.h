// GPT-NeoX forward pass (RCC_SPEC §1) on f32 activations, with a KV cache per sequence.
//
// A call processes a *batch* of independent sequences at once: their new rows are stacked into one
// [rows, H] matrix, so every matrix product runs once for the whole batch; only attention is done per
// sequence (each against its own cache). A prompt is prefilled in one call; decoding then feeds one
// row per sequence per call.
//
// Hooks let the RCC encoder record per-layer states and the RCC decoder inject memory (§2, §3)
// without a second copy of this code.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace rcc {

// Rows [begin, begin + count) of the batch belong to the sequence whose cache is `cache`; they sit at
// positions cache->length() .. + count - 1.
struct SeqSlice {
  int64_t begin = 0, count = 0;
  KVCache* cache = nullptr;
};

struct ForwardHooks {
  // Called after layer `layer` with the batch hidden states x [rows, H] (may modify them).
  std::function<void(int64_t layer, float* x, int64_t rows)> after_layer;
};

class GPTNeoX {
 public:
  GPTNeoX(GPTNeoXConfig cfg, GPTNeoXWeights w);

  const GPTNeoXConfig& config() const { return cfg_; }
  const GPTNeoXWeights& weights() const { return w_; }
  KVCache new_cache() const { return KVCache(cfg_.num_layers, cfg_.num_heads, cfg_.head_dim()); }

  // out[n, H] = embed_in rows of ids (each checked against the vocabulary).
  void embed(const int32_t* ids, int64_t n, float* out) const;
  // x [rows, H]: input hidden states in, final-layer-norm output out. Appends every sequence's new
  // keys/values to its cache.
  void forward(float* x, int64_t rows, std::span<const SeqSlice> seqs,
               const ForwardHooks* hooks = nullptr) const;
  // logits[rows, V] = h[rows, H] · embed_out^T
  void logits(const float* h, int64_t rows, float* out) const;

  // Convenience: one sequence of ids through embed + forward + logits of every row ([n, V]).
  std::vector<float> forward_logits(const std::vector<int32_t>& ids, KVCache& cache) const;

 private:
  void layer(int64_t i, float* x, int64_t rows, std::span<const SeqSlice> seqs, float* work) const;

  GPTNeoXConfig cfg_;
  GPTNeoXWeights w_;
};

}  // namespace rcc
