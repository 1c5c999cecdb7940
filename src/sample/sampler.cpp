#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace rcc {

void SamplingParams::validate() const {
  RCC_CHECK(std::isfinite(temperature) && temperature >= 0, "temperature must be >= 0, got ",
            temperature);
  RCC_CHECK(top_k >= 0, "top-k must be >= 0, got ", top_k);
  RCC_CHECK(top_p > 0 && top_p <= 1, "top-p must lie in (0, 1], got ", top_p);
  RCC_CHECK(std::isfinite(repetition_penalty) && repetition_penalty > 0,
            "repetition penalty must be > 0, got ", repetition_penalty);
}

Sampler::Sampler(SamplingParams p, uint64_t stream) : p_(p) {
  p_.validate();
  std::seed_seq seq{uint32_t(p.seed), uint32_t(p.seed >> 32), uint32_t(stream),
                    uint32_t(stream >> 32)};
  rng_.seed(seq);
}

int32_t argmax(const float* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return int32_t(best);
}

int32_t Sampler::next(float* logits, int64_t V, const std::vector<int32_t>& history) {
  RCC_CHECK(V > 0, "sampler: empty vocabulary");
  // NaN has no order: sorting would be undefined behaviour and argmax meaningless.
  for (int64_t i = 0; i < V; ++i)
    RCC_CHECK(!std::isnan(logits[i]), "sampler: logit of token ", i, " is NaN");
  if (p_.repetition_penalty != 1.0f) {
    std::vector<int32_t> seen(history);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= V) continue;
      float& l = logits[t];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if (p_.greedy()) return argmax(logits, V);
  // Candidates sorted by logit, descending (lower index first on ties, so that top_k = 1 is
  // greedy); top-k then top-p shrink the list.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t keep = V;
  if (p_.top_k > 0 && p_.top_k < V) {
    keep = p_.top_k;
    std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), before);
  } else {
    std::sort(idx.begin(), idx.end(), before);
  }
  // softmax(logits / T), shifted by the maximum and in double, so that a tiny temperature cannot
  // overflow (inf - inf) and an infinite logit is simply certain.
  const float mx = logits[idx[0]];
  const double T = double(p_.temperature);
  std::vector<double> prob(static_cast<size_t>(keep));
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    const float l = logits[idx[size_t(i)]];
    sum += prob[size_t(i)] = l == mx ? 1.0 : std::exp((double(l) - double(mx)) / T);
  }
  if (p_.top_p < 1.0f) {
    // Smallest prefix whose probability mass reaches top_p (at least one token).
    double cum = 0;
    int64_t n = 0;
    while (n < keep) {
      cum += prob[size_t(n)] / sum;
      ++n;
      if (cum >= double(p_.top_p)) break;
    }
    keep = n;
    sum = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
  }
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  int64_t last = 0;  // rounding may leave u >= 0 at the end: take the last token that can occur
  for (int64_t i = 0; i < keep; ++i) {
    if (prob[size_t(i)] > 0) last = i;
    u -= prob[size_t(i)];
    if (u < 0) return idx[size_t(i)];
  }
  return idx[size_t(last)];
}

}  // namespace rcc
