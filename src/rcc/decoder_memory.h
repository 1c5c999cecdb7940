// The injecting decoder (RCC_SPEC §3). Memory positions enter the decoder as x = E · s_0 and after
// decoder layer i receive x += A_i · s_{i+1}; prompt tokens follow at positions P, P+1, ... Memory
// positions attend only to memory positions, so their keys/values are computed once (chunked causal
// prefill, extendable as windows arrive) and reused for every question: after each answer the cache is
// cut back to the memory prefix.
#pragma once
#include <functional>
#include <vector>

#include "model/generate.h"
#include "rcc/memory.h"
#include "rcc/rcc_model.h"

namespace rcc {

class DecoderMemory {
 public:
  explicit DecoderMemory(const RCCModel& model);

  // Appends memory positions for slots f32 [n, L+1, H]. When `final_hidden` is given it receives the
  // decoder's final-layer-norm output of these positions [n, H] (for logits in tests).
  void extend(const float* slots, int64_t n, float* final_hidden = nullptr);
  // Appends slots [begin, begin + n) of a memory (in its stored dtype, converted to f32), in chunks.
  void extend(const Memory& m, int64_t begin, int64_t n);
  // Keeps only the first P memory positions (e.g. before re-extending after an append).
  void truncate(int64_t P);
  int64_t length() const { return length_; }
  // Restores an empty decoder memory to P positions whose keys/values `fill` writes per layer
  // (k, v: [P, heads · head_dim]); used by saved decoder caches.
  void restore(int64_t P, const std::function<void(int64_t layer, float* k, float* v)>& fill);
  KVCache& cache() { return cache_; }
  const KVCache& cache() const { return cache_; }

  // Generates after the memory with `prompt` (non-empty); the memory prefix is left intact.
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateParams& params);
  // Several prompts at once, each continuing its own copy of the memory prefix.
  std::vector<GenerateResult> generate_batch(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateParams& params);
  // Logits [T, V] of every prompt row (prefill only); the memory prefix is left intact.
  std::vector<float> prompt_logits(const std::vector<int32_t>& prompt);

 private:
  const RCCModel& model_;
  KVCache cache_;
  int64_t length_ = 0;
};

}  // namespace rcc
