#include "tasks/sample.h"

namespace rcc {

double Sample::target_weight() const {
  double s = 0;
  for (float w : weights) s += double(w);
  return s;
}

}  // namespace rcc
