// One training example (spec §6.2). The encoder compresses `context` in aligned windows of W
// tokens (none when it is empty: a plain language-model sample); the decoder reads the memory rows
// and then `tokens`. weights[t] > 0 trains the decoder to predict tokens[t] from the row before it
// (the last memory row for t = 0; with no memory, tokens[0] has nothing to be predicted from and
// its weight must be 0). Weights are usually 0 or 1 (the loss mask).
#pragma once
#include <cstdint>
#include <vector>

namespace rcc {

struct Sample {
  std::vector<int32_t> context;
  std::vector<int32_t> tokens;
  std::vector<float> weights;  // one per token
  int32_t task = -1;           // index of the task that drew it in its TaskMixer (-1: none)

  double target_weight() const;  // Σ weights (the sample's share of the loss normaliser)
};

}  // namespace rcc
