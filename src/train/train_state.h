// The part of a training checkpoint that is not the model (the model is the RCC checkpoint beside
// it, f32, so it reloads bit for bit): the next step, the AdamW step count and moments, the data
// generator's state and counters. File `state.rcct`, the rcc container format (io/container.h):
// magic "RCCTRAIN", version 1, JSON header, payload m then v (f32, the parameter layout's order),
// XXH64 checksum; written atomically.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "train/param_arena.h"

namespace rcc {

struct TrainState {
  int64_t step = 0;  // steps done (the next step to run)
  int64_t adam_t = 0;
  std::array<uint64_t, 4> rng{};
  int64_t tokens = 0;  // encoder tokens + decoder rows processed so far
  double seconds = 0;  // training time so far
  Tensor m, v;         // f32 [layout.total()]
};

void save_train_state(const std::string& path, const TrainState& s, const ParamLayout& layout);
// Checks that the state belongs to a model with this parameter layout.
TrainState load_train_state(const std::string& path, const ParamLayout& layout);

}  // namespace rcc
