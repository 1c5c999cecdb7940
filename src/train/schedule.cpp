#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace rcc {

double LRSchedule::at(int64_t step) const {
  RCC_CHECK(kind == "cosine" || kind == "constant", "unknown lr schedule '", kind,
            "' (cosine or constant)");
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  if (kind == "constant") return lr;
  const int64_t span = std::max<int64_t>(1, total - 1 - warmup);
  const double progress = std::min(1.0, double(step - warmup) / double(span));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace rcc
