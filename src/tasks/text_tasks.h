// Objectives on real text (spec §6.3–§6.5), drawn from token shards (shards.h):
//   lm              plain language modelling, no memory: a span of `tokens` + 1 ids, loss on all
//                   but the first (pretrains a base model from scratch);
//   reconstruction  a context of `context_tokens` (default W) is compressed; the decoder reads the
//                   memory and a random span of that context (length in [min_span, max_span]) and
//                   learns to continue it, the loss masked on its first `cue` tokens (drawn from
//                   [min_cue, max_cue], the reference's 10–20);
//   continuation    a context of [min_context, max_context] tokens (one or more windows) is
//                   compressed; the decoder predicts the `target_tokens` that follow it, all of
//                   them (the first from the last memory row).
#pragma once
#include <cstdint>

#include "tasks/rng.h"
#include "tasks/sample.h"
#include "tasks/shards.h"

namespace rcc {

struct TextTaskConfig {
  std::vector<std::string> data;  // shard paths, directories or prefix* globs
  int64_t tokens = 256;           // lm
  int64_t context_tokens = 0;     // reconstruction (0: the model's window W)
  int64_t min_span = 32, max_span = 256, min_cue = 10, max_cue = 20;  // reconstruction
  int64_t min_context = 0, max_context = 0;  // continuation (0: one window W)
  int64_t target_tokens = 128;               // continuation
};

Sample make_lm_sample(const TextTaskConfig& c, const TokenCorpus& corpus, Rng& rng);
Sample make_reconstruction_sample(const TextTaskConfig& c, const TokenCorpus& corpus, int64_t W,
                                  Rng& rng);
Sample make_continuation_sample(const TextTaskConfig& c, const TokenCorpus& corpus, int64_t W,
                                Rng& rng);

}  // namespace rcc
