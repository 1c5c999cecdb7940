// Shared by the files of rcc_cuda_train_check (train_ops_check.cu, train_norm_check.cu):
// the check stream, the inputs' random source, bit-exact comparison and transfers on the stream.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "check_util.h"
#include "core/dtype.h"

namespace rcc::gpu_check {

inline cudaStream_t g_stream = nullptr;

inline std::mt19937_64 g_rng(20240612);  // the inputs' random source

// Fraction of elements that differ bit for bit (NaN when any output is NaN).
inline double mismatch(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return NAN;
  size_t bad = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) return NAN;
    if (std::memcmp(&out[i], &ref[i], 4) != 0) ++bad;
  }
  return out.empty() ? 0.0 : double(bad) / double(out.size());
}

// Transfers to and from the device, all on g_stream.
// rel_err of the increments alone, out − base against ref − base (an accumulated output whose
// starting value could hide a wrong increment).
inline double increment_err(const std::vector<float>& out, const std::vector<float>& ref,
                            const std::vector<float>& base) {
  std::vector<float> o(out.size()), r(ref.size());
  for (size_t i = 0; i < o.size() && i < base.size(); ++i) o[i] = out[i] - base[i];
  for (size_t i = 0; i < r.size() && i < base.size(); ++i) r[i] = ref[i] - base[i];
  return rel_err(o, r);
}

inline void sync_stream() {
  RCC_CUDA_CHECK(cudaStreamSynchronize(g_stream));
}
inline void to_dev(void* dst, const void* src, size_t bytes) {
  RCC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream));
  sync_stream();  // the host buffer may go away right after
}
inline void to_host(void* dst, const void* src, size_t bytes) {
  RCC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream));
  sync_stream();
}

// bf16 device copy of v (round to nearest even; v is usually already bf16-exact).
inline void put_bf16(void* dst, const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
  to_dev(dst, h.data(), h.size() * 2);
}
inline std::vector<float> get_bf16(const void* src, size_t n) {
  std::vector<uint16_t> h(n);
  to_host(h.data(), src, n * 2);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = bf16_to_f32(h[i]);
  return v;
}
inline void put_f32(void* dst, const std::vector<float>& v) {
  to_dev(dst, v.data(), v.size() * 4);
}
inline std::vector<float> get_f32(const void* src, size_t n) {
  std::vector<float> v(n);
  to_host(v.data(), src, n * 4);
  return v;
}
template <class T>
inline void put(void* dst, const std::vector<T>& v) {
  to_dev(dst, v.data(), v.size() * sizeof(T));
}

// The layer-norm checks (train_norm_check.cu).
void check_layer_norm_backward();
void check_layer_norm_pair();
void check_layer_norm_pair_backward();

}  // namespace rcc::gpu_check
