// Helpers of the CPU op, dtype and thread-pool tests (ops_test.cpp, dtype_test.cpp,
// thread_pool_test.cpp): the pool size for a scope, and seeded random inputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/thread_pool.h"

namespace rcc::test {

// Restores the pool size on scope exit.
struct ThreadGuard {
  int saved = num_threads();
  ~ThreadGuard() { set_num_threads(saved); }
};

// Runs `f` with `n` pool threads and returns its result.
template <class F>
auto at_threads(int n, F&& f) {
  ThreadGuard g;
  set_num_threads(n);
  return f();
}

// n draws of N(mean, stddev²) from an std::mt19937 seeded with `seed`.
inline std::vector<float> randn(size_t n, uint32_t seed, float mean = 0.0f, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace rcc::test
