// A row's layer-norm statistics, shared by the forward (norm.cu) and the backward
// (norm_backward.cu) so that both see the same values. Included only by .cu files.
#pragma once
#include "cuda/vec.cuh"

#ifdef __CUDACC__
namespace rcc::cuda {

// Mean and 1/std of the row xr [H] by one warp, f32: two passes (mean, then the biased variance of
// the deviations), 1/sqrtf(var + eps). Lane l reads the V-element groups l, l + 32, ... (H % V ==
// 0); every lane gets both values.
template <int V>
__device__ __forceinline__ void row_stats(const bf16* xr, int64_t H, float eps, int lane,
                                          float& mean, float& inv) {
  const int64_t HV = H / V;
  float s = 0.0f;
  for (int64_t j = lane; j < HV; j += 32) {
    float f[V];
    load_v<V>(xr + j * V, f);
#pragma unroll
    for (int k = 0; k < V; ++k) s += f[k];
  }
  mean = warp_sum(s) / float(H);
  float q = 0.0f;
  for (int64_t j = lane; j < HV; j += 32) {
    float f[V];
    load_v<V>(xr + j * V, f);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float d = f[k] - mean;
      q += d * d;
    }
  }
  const float var = warp_sum(q) / float(H);
  inv = 1.0f / sqrtf(var + eps);
}

}  // namespace rcc::cuda
#endif
