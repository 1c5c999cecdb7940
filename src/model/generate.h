// Autoregressive generation for a batch of prompts: one prefill pass for all prompts, then one
// decode row per unfinished sequence per step, each sequence with its own KV cache and sampler
// (stream b for sequence b). A DecodeBatch (model/decode_batch.h) does the steps.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/transformer.h"
#include "sample/sampler.h"

namespace rcc {

struct GenerateParams {
  int64_t max_new_tokens = 16;
  int64_t min_new_tokens = 0;     // stop ids are not tested before this many tokens
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these (it is kept)
  SamplingParams sampling;
  // Called with each sequence's index and every token it generates, as it is generated (streaming).
  // Returning false ends that sequence after this token (its result has `cancelled` set). It must
  // not throw.
  std::function<bool(size_t seq, int32_t id)> on_token;
};

struct GenerateResult {
  std::vector<int32_t> ids;  // generated ids only
  bool stopped = false;      // ended on a stop id (false: hit max_new_tokens)
  bool cancelled = false;    // ended because on_token returned false
  // Wall seconds from joining the batch to the first token's logits on the host (the prompt's
  // passes) and from then to the last token (model/decode_batch.h).
  double prompt_seconds = 0, decode_seconds = 0;
};

// Continues each sequence from its cache (which may already hold a prefix, e.g. RCC memory) with
// its prompt ids. `caches` and `prompts` have one entry per sequence; prompts must be non-empty.
std::vector<GenerateResult> generate(const Transformer& model, std::vector<KVCache*> caches,
                                     const std::vector<std::vector<int32_t>>& prompts,
                                     const GenerateParams& params);

// Single sequence from scratch.
GenerateResult generate(const Transformer& model, const std::vector<int32_t>& prompt,
                        const GenerateParams& params);

}  // namespace rcc
