// Helpers shared by the GPU check programs (ops_check.cu, train_ops_check.cu,
// attention_backward_check.cu, fp8_check.cu): the PASS/FAIL line of a check and its tally, random
// inputs, bf16 rounding, the relative error of an output against its reference, a device
// allocation, a CUDA backend with upload/download helpers, event timing, and a scope that switches
// runtime settings (the paths the checks compare).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/settings.h"
#include "cuda/backend.h"
#include "cuda/common.cuh"

namespace rcc::gpu_check {

// Checks run and failed so far (the programs print the summary and exit 1 when any failed).
inline int g_fail = 0, g_total = 0;

// One line per check: "PASS|FAIL name err tol"; passes when err <= tol (NaN fails).
inline void report(const std::string& name, double err, double tol) {
  const bool ok = err <= tol;  // NaN fails
  ++g_total;
  if (!ok) ++g_fail;
  std::printf("%s %s %.3e %.0e\n", ok ? "PASS" : "FAIL", name.c_str(), err, tol);
  std::fflush(stdout);
}

// n draws of N(mean, stddev²) from rng (each program seeds its own generator, so its inputs are
// the same on every run).
inline std::vector<float> randn(std::mt19937_64& rng, size_t n, float stddev = 1.0f,
                                float mean = 0.0f) {
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// v with every element rounded to bf16 (round to nearest even) and back.
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

// ‖out − ref‖₂ / ‖ref‖₂ (‖out − ref‖₂ when ref is all zeros); NaN when the sizes differ or any
// element of out is NaN.
inline double rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return NAN;
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double d = double(out[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
  }
  if (std::isnan(num)) return NAN;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// A device allocation of `bytes` bytes (at least 16 allocated), freed at scope exit.
struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t b) : bytes(b) { RCC_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(b, 16))); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() {
    if (p) cudaFree(p);
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
  // The buffer as bf16 elements, from element offset_elems on.
  cuda::bf16* bf(int64_t offset_elems = 0) const { return as<cuda::bf16>() + offset_elems; }
  // Fills the buffer with 0xFF bytes on stream: bf16 and f32 NaNs, so an element a kernel never
  // writes fails its check.
  void poison(cudaStream_t stream) { RCC_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, bytes, stream)); }
};

// A CUDA backend and a few helpers around it.
struct Gpu {
  std::unique_ptr<Backend> be;
  cudaStream_t stream = nullptr;
  explicit Gpu(int dev) : be(make_cuda_backend(dev)) {
    stream = static_cast<cudaStream_t>(cuda_backend_stream(*be));
  }
  DeviceBuffer upload(const std::vector<float>& v) {
    DeviceBuffer b(*be, v.size() * 2 + 16);
    be->upload_f32(v.data(), int64_t(v.size()), b.get());
    return b;
  }
  std::vector<float> download(const void* p, size_t n) {
    std::vector<float> v(n);
    be->download_f32(p, int64_t(n), v.data());
    return v;
  }
  void poison(void* p, size_t bytes) {  // 0xFFFF is a bf16 NaN (and 0xFFFFFFFF an f32 NaN)
    if (cudaMemsetAsync(p, 0xFF, bytes, stream) != cudaSuccess) fail("cudaMemsetAsync failed");
  }
  void fill(void* p, int byte, size_t bytes) {
    if (cudaMemsetAsync(p, byte, bytes, stream) != cudaSuccess) fail("cudaMemsetAsync failed");
  }
};

// Median milliseconds of `iters` runs of fn after `warm` unmeasured ones, timed with CUDA events on
// g's stream.
inline double time_ms(Gpu& g, const std::function<void()>& fn, int warm = 3, int iters = 15) {
  for (int i = 0; i < warm; ++i) fn();
  cudaEvent_t a, b;
  RCC_CUDA_CHECK(cudaEventCreate(&a));
  RCC_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> ts;
  for (int i = 0; i < iters; ++i) {
    RCC_CUDA_CHECK(cudaEventRecord(a, g.stream));
    fn();
    RCC_CUDA_CHECK(cudaEventRecord(b, g.stream));
    RCC_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    RCC_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    ts.push_back(ms);
  }
  RCC_CUDA_CHECK(cudaEventDestroy(a));
  RCC_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

// The runtime settings (core/settings.h) changed by `change` for the life of the scope, the old
// ones restored at its end: RCC_CUDA_ATTN_BWD and RCC_CUDA_ATTN_FWD take effect at the next
// launch, RCC_CUDA_GEMM and RCC_CUDA_FUSED in the backends made meanwhile.
class SettingsScope {
 public:
  template <class F>
  explicit SettingsScope(F&& change) {
    RuntimeSettings s = runtime_settings();
    change(s);
    old_ = set_runtime_settings(s);
  }
  SettingsScope(const SettingsScope&) = delete;
  SettingsScope& operator=(const SettingsScope&) = delete;
  ~SettingsScope() { set_runtime_settings(old_); }

 private:
  RuntimeSettings old_;
};

}  // namespace rcc::gpu_check
