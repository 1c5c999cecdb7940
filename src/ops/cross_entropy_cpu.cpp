#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/cross_entropy.h"

namespace rcc::ops {

double cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                     const float* weights, float* dlogits, float scale) {
  for (int64_t r = 0; r < rows; ++r)
    RCC_CHECK(weights[r] == 0.0f || (targets[r] >= 0 && targets[r] < V), "cross_entropy: target ",
              targets[r], " of row ", r, " is outside the vocabulary [0, ", V, ")");
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* l = logits + r * V;
          float* d = dlogits ? dlogits + r * V : nullptr;
          const float w = weights[r];
          if (w == 0.0f) {
            if (d) std::fill(d, d + V, 0.0f);
            continue;
          }
          float mx = l[0];
          for (int64_t j = 1; j < V; ++j) mx = std::max(mx, l[j]);
          double sum = 0;
          for (int64_t j = 0; j < V; ++j) sum += std::exp(double(l[j] - mx));
          const double lse = double(mx) + std::log(sum);
          loss[size_t(r)] = double(w) * (lse - double(l[targets[r]]));
          if (d) {
            const double c = double(scale) * double(w);
            for (int64_t j = 0; j < V; ++j) d[j] = float(c * std::exp(double(l[j]) - lse));
            d[targets[r]] = float(c * (std::exp(double(l[targets[r]]) - lse) - 1.0));
          }
        }
      },
      1);
  double total = 0;
  for (double x : loss) total += x;
  return total;
}

}  // namespace rcc::ops
