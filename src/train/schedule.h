// Learning-rate schedules: linear warmup then cosine decay to a floor, or constant (after warmup).
#pragma once
#include <cstdint>
#include <string>

namespace rcc {

struct LRSchedule {
  double lr = 1e-4;     // peak
  double min_lr = 0.0;  // floor of the cosine
  int64_t warmup = 0;   // steps of linear warmup: lr · (step + 1) / warmup
  int64_t total = 1;    // steps of the whole run (cosine reaches min_lr at step total − 1)
  std::string kind = "cosine";  // "cosine" | "constant"

  // Learning rate of optimizer step `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace rcc
