#include "bench_floors.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace rcc::cli {

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

MachineFloors measure_floors() {
  MachineFloors f;
  const int threads = num_threads();
  {
    const size_t n = size_t(1) << 28;  // 1 GiB of floats, far beyond any cache
    std::vector<float> buf(n, 1.0f);
    std::vector<double> sink(size_t(threads), 0.0);
    for (int rep = 0; rep < 5; ++rep) {
      const double t0 = now();
      parallel_for(threads, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const size_t lo = n / size_t(threads) * size_t(t),
                       hi = n / size_t(threads) * size_t(t + 1);
          float s[16] = {};
          for (size_t i = lo; i < hi; i += 16)
#pragma omp simd
            for (int j = 0; j < 16; ++j) s[j] += buf[i + size_t(j)];
          double acc = 0;
          for (float v : s) acc += v;
          sink[size_t(t)] = acc;
        }
      });
      f.read_gbps = std::max(f.read_gbps, double(n) * 4.0 / (now() - t0) / 1e9);
    }
  }
  {
    const kernels::FmaPeak peak = kernels::kernels().fma_peak;
    const int64_t iters = 20'000'000;
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<double> flops(size_t(threads), 0.0);  // one slot per task: no shared counter
      const double t0 = now();
      parallel_for(threads, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) flops[size_t(t)] = peak(iters);
      });
      const double dt = now() - t0;
      double total = 0;
      for (double v : flops) total += v;
      f.fma_gflops = std::max(f.fma_gflops, total / dt / 1e9);
    }
  }
  return f;
}

nlohmann::json floors_json(const MachineFloors& f) {
  nlohmann::json j;
  j["kernels"] = kernels::describe_kernels();
  j["threads"] = num_threads();
  j["read_gbps"] = f.read_gbps;
  j["fma_gflops"] = f.fma_gflops;
  return j;
}

}  // namespace rcc::cli
