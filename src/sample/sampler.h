// Choosing the next token from logits: greedy, or sampling with repetition penalty, temperature,
// top-k and top-p, applied in that order (as Hugging Face's generate does).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace rcc {

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy (argmax)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens already in the sequence
  uint64_t seed = 0;
  bool greedy() const { return temperature <= 0.0f; }
  void validate() const;  // throws on out-of-range values
};

class Sampler {
 public:
  Sampler(SamplingParams p, uint64_t stream = 0);
  // `logits` [V] is modified in place (repetition penalty); a NaN logit is an error.
  // `history`: the tokens so far (prompt and generated).
  int32_t next(float* logits, int64_t V, const std::vector<int32_t>& history);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

// Index of the largest value (first on ties, as torch.argmax).
int32_t argmax(const float* v, int64_t n);

}  // namespace rcc
