// Placing a task's context at a chosen depth inside a haystack of real text (spec §6.11, long
// contexts): a span of [min_tokens, max_tokens] tokens of the haystack (token shards, read once by
// the task mixture) with the piece inserted at a depth drawn from [min_depth, max_depth] (0 = at
// the start, 1 = at the end). Used by facts and babi (`haystack` fields); passkey replaces its
// filler by real text instead.
#pragma once
#include <cstdint>
#include <vector>

#include "tasks/rng.h"

namespace rcc {

struct Haystack {
  std::vector<int32_t> text;  // the haystack tokens (one stretch of real text)
  int64_t min_tokens = 1024, max_tokens = 2048;
  double min_depth = 0.0, max_depth = 1.0;
};

std::vector<int32_t> place_in_haystack(const std::vector<int32_t>& piece, const Haystack& h,
                                       Rng& rng);

}  // namespace rcc
