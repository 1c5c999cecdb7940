// The model shapes the benchmark commands build with random weights (rcc bench, rcc bench-batch).
#pragma once
#include <string>

#include "model/config.h"

namespace rcc::cli {

// "tiny" (H 128, 2 layers), "rcc-tiny" (the bundled model's decoder: H 256, 6 layers, vocabulary
// 8192), and Pythia's "160m", "410m", "1.4b" (vocabulary 50304); intermediate 4·H. Throws
// UsageError for another name.
ModelConfig bench_shape(const std::string& name);

}  // namespace rcc::cli
