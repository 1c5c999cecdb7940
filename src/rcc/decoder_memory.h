// The injecting decoder (spec §3). Memory positions enter the decoder as x = E · s_0 and after
// decoder layer i receive x += A_i · s_{i+1}; prompt tokens follow at positions P, P+1, ... Memory
// positions attend only to memory positions, so their keys/values are computed once (chunked causal
// prefill, extendable as windows arrive) and reused for every question: each answer continues the
// memory's cache (shared, read-only) in a cache of its own (answer_cache).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "model/generate.h"
#include "rcc/memory.h"
#include "rcc/rcc_model.h"

namespace rcc {

class DecoderMemory {
 public:
  // `eight_bit` (CUDA): keep the memory prefix's keys/values in int8 (per position/head scales).
  explicit DecoderMemory(const RCCModel& model, bool eight_bit = false);
  // A memory continuing `base` (e.g. a request's own context after stored memories): its cache
  // continues base's, shared read-only (KVCache::continuing); `base` must have no prefix itself
  // and must not change while this lives (the shared pointer keeps it alive).
  DecoderMemory(const RCCModel& model, std::shared_ptr<const DecoderMemory> base);

  // Appends memory positions for slots f32 [n, L+1, H] (host). When `final_hidden` is given it
  // receives the decoder's final-layer-norm output of these positions [n, H] (for logits in tests).
  void extend(const float* slots, int64_t n, float* final_hidden = nullptr);
  // The same for slots already on the model's backend (a device activation buffer [n, L+1, H]),
  // in one decoder pass.
  void extend_device(const void* slots, int64_t n, float* final_hidden = nullptr);
  // Streaming: slots of one window at a time, buffered on the device and prefilled in chunks of
  // `chunk` positions (matrix products of many rows); flush() prefills what is pending.
  void push(const void* slots_dev, int64_t n);
  void flush();
  // Positions per prefill pass (default 512 on the CPU, 2048 on devices); only with nothing
  // pending.
  void set_chunk(int64_t chunk);
  // Room for `P` memory positions in total: reserving the final size up front avoids regrowing
  // the cache (which briefly holds two copies). Answers live in caches of their own.
  void reserve(int64_t P) { cache_.reserve(P); }
  // Appends slots [begin, begin + n) of a memory (in its stored dtype, converted to f32), in
  // chunks.
  void extend(const Memory& m, int64_t begin, int64_t n);
  // Keeps only the first P memory positions (e.g. before re-extending after an append).
  void truncate(int64_t P);
  int64_t length() const { return length_; }
  // Restores an empty decoder memory to P positions whose keys/values `fill` writes per layer
  // (k, v: [P, heads · head_dim]); used by saved decoder caches.
  void restore(int64_t P, const std::function<void(int64_t layer, float* k, float* v)>& fill);
  KVCache& cache() { return cache_; }
  const KVCache& cache() const { return cache_; }

  // A cache for one answer after this memory: it continues this memory's cache, shared read-only
  // (held once however many answers read it), or — when this memory continues another — a copy
  // of its own positions continuing the same shared prefix. `keep` is held by the cache (the
  // owner of this memory, where answers may outlive the caller's reference).
  KVCache answer_cache(std::shared_ptr<const void> keep = nullptr) const;
  // Generates after the memory with `prompt` (non-empty); the memory is left intact.
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateParams& params);
  // Several prompts at once in one batch, each in its own answer_cache(); sequence b samples
  // from stream b.
  std::vector<GenerateResult> generate_batch(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateParams& params);
  // Logits [T, V] of every prompt row (prefill only); the memory prefix is left intact.
  std::vector<float> prompt_logits(const std::vector<int32_t>& prompt);

 private:
  const RCCModel& model_;
  std::shared_ptr<const DecoderMemory> base_;  // the memory this one continues (or null)
  KVCache cache_;
  int64_t length_ = 0;
  int64_t chunk_;         // positions per prefill pass
  DeviceBuffer pending_;  // streamed slots not yet prefilled [chunk_, L+1, H]
  int64_t pending_n_ = 0;
};

}  // namespace rcc
