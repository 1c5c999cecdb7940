#include "tasks/haystack.h"

#include <algorithm>

#include "core/error.h"

namespace rcc {

std::vector<int32_t> place_in_haystack(const std::vector<int32_t>& piece, const Haystack& h,
                                       Rng& rng) {
  RCC_CHECK(h.min_tokens <= h.max_tokens && h.min_depth <= h.max_depth,
            "haystack: min_tokens/min_depth must not exceed max_tokens/max_depth");
  const int64_t n = rng.range(h.min_tokens, h.max_tokens);
  RCC_CHECK(int64_t(h.text.size()) >= n, "haystack: ", h.text.size(),
            " tokens of text, fewer than the ", n,
            " asked for (give more text in the task's `haystack` setting)");
  const int64_t start = int64_t(rng.below(uint64_t(int64_t(h.text.size()) - n + 1)));
  const double depth = h.min_depth + (h.max_depth - h.min_depth) * rng.uniform();
  const int64_t at = std::min<int64_t>(n, int64_t(depth * double(n) + 0.5));
  std::vector<int32_t> out(h.text.begin() + start, h.text.begin() + start + at);
  out.insert(out.end(), piece.begin(), piece.end());
  out.insert(out.end(), h.text.begin() + start + at, h.text.begin() + start + n);
  return out;
}

}  // namespace rcc
