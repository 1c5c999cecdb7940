#include "tasks/text_tasks.h"

#include <algorithm>

#include "core/error.h"

namespace rcc {

Sample make_lm_sample(const TextTaskConfig& c, const TokenCorpus& corpus, Rng& rng) {
  Sample s;
  s.tokens = corpus.span(c.tokens + 1, rng);
  s.weights.assign(s.tokens.size(), 1.0f);
  s.weights[0] = 0.0f;  // nothing before it
  return s;
}

Sample make_reconstruction_sample(const TextTaskConfig& c, const TokenCorpus& corpus, int64_t W,
                                  Rng& rng) {
  const int64_t n = c.context_tokens > 0 ? c.context_tokens : W;
  Sample s;
  s.context = corpus.span(n, rng);
  const int64_t len = std::min(n, rng.range(std::min(c.min_span, n), std::min(c.max_span, n)));
  const int64_t start = rng.range(0, n - len);
  s.tokens.assign(s.context.begin() + start, s.context.begin() + start + len);
  const int64_t cue = std::min(len - 1, rng.range(c.min_cue, c.max_cue));
  s.weights.assign(size_t(len), 1.0f);
  std::fill(s.weights.begin(), s.weights.begin() + std::max<int64_t>(cue, 0), 0.0f);
  return s;
}

Sample make_continuation_sample(const TextTaskConfig& c, const TokenCorpus& corpus, int64_t W,
                                Rng& rng) {
  const int64_t lo = c.min_context > 0 ? c.min_context : W;
  const int64_t hi = c.max_context > 0 ? c.max_context : lo;
  RCC_CHECK(lo <= hi, "continuation: min_context > max_context");
  const int64_t n = rng.range(lo, hi);
  std::vector<int32_t> all = corpus.span(n + c.target_tokens, rng);
  Sample s;
  s.context.assign(all.begin(), all.begin() + n);
  s.tokens.assign(all.begin() + n, all.end());
  s.weights.assign(s.tokens.size(), 1.0f);
  return s;
}

}  // namespace rcc
