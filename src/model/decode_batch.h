// Continuous batching: sequences join and leave a running batch between forward passes.
//
// Every step() is one forward pass of the model over a batch of rows (transformer.h): each sequence
// that is decoding feeds its last token (one row), and sequences that joined feed their prompts,
// at most `prefill_rows` prompt rows per step in total (chunked prefill: a long prompt never
// stalls the decoding sequences for more than one chunk). A sequence yields a token in the step
// that feeds its last prompt row and in every step after it, until a stop id, its token limit, or
// its on_token callback ends it. Each sequence has its own limits, stop ids and sampler.
//
// A sequence's results do not depend on its batch mates: on the CPU every row's arithmetic is the
// same whatever rows share its pass (bit-identical to running it alone); on CUDA within bf16
// rounding. Sequences continuing one shared prefix cache (KVCache::continuing) read it once per
// pass.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "model/generate.h"
#include "model/transformer.h"
#include "sample/sampler.h"

namespace rcc {

struct BatchSequence {
  KVCache* cache = nullptr;     // continued from cache->length(); owned by the caller
  std::vector<int32_t> prompt;  // non-empty
  GenerateParams params;        // limits, stop ids, sampling; on_token(index, id)
  size_t index = 0;             // passed to params.on_token
  uint64_t stream = 0;  // sampler stream (Sampler): the same seed and stream, the same draws
};

class DecodeBatch {
 public:
  // prefill_rows: prompt rows fed per step across the joining sequences (>= 1), or 0 for whole
  // prompts in the step they join.
  explicit DecodeBatch(const Transformer& model, int64_t prefill_rows = 0);

  // The sequence joins at the next step; returns its handle. Checks the prompt (non-empty, ids in
  // the vocabulary) and reserves its cache for the prompt and up to 256 answer positions.
  uint64_t add(BatchSequence s);
  // One forward pass. Returns the sequences that ended in it (handle, result), which leave the
  // batch. If the pass throws, every sequence leaves the batch (their caches hold partial
  // positions past their last length) and the error propagates.
  std::vector<std::pair<uint64_t, GenerateResult>> step();

  bool empty() const { return seqs_.empty(); }
  size_t size() const { return seqs_.size(); }
  // Sequences past their prompt (feeding one row per step).
  size_t decoding() const;

 private:
  struct Seq {
    uint64_t handle;
    BatchSequence s;
    Sampler sampler;
    std::vector<int32_t> history;  // prompt and generated ids (repetition penalty)
    size_t fed = 0;                // prompt ids already fed
    GenerateResult result;
    double joined = 0, first = -1;  // seconds on the batch clock
  };
  const Transformer& model_;
  int64_t prefill_rows_;
  std::vector<Seq> seqs_;
  uint64_t next_ = 1;
  DeviceBuffer x_, h_last_;
  std::vector<float> logits_;
};

}  // namespace rcc
