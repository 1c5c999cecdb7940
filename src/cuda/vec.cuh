// V consecutive elements as one load/store: bf16 (V = 1, 4 or 8: one 2-, 8- or 16-byte access)
// and f32 (V = 1, 4 or 8: scalar or float4s), converted to and from f32 registers. Callers check
// the alignment (V elements' worth) before choosing V > 1. Included only by .cu files.
#pragma once
#include <type_traits>

#include "cuda/common.cuh"

#ifdef __CUDACC__
namespace rcc::cuda {

template <int V>
__device__ __forceinline__ void load_v(const bf16* p, float (&f)[V]) {
  if constexpr (V == 1) {
    f[0] = __bfloat162float(*p);
  } else {
    union {
      typename std::conditional<V == 8, uint4, uint2>::type u;
      bf16 h[V];
    } pk;
    pk.u = *reinterpret_cast<const decltype(pk.u)*>(p);
#pragma unroll
    for (int k = 0; k < V; ++k) f[k] = __bfloat162float(pk.h[k]);
  }
}
template <int V>
__device__ __forceinline__ void load_v(const float* p, float (&f)[V]) {
  if constexpr (V == 1) {
    f[0] = *p;
  } else {
#pragma unroll
    for (int k = 0; k < V; k += 4) {
      const float4 q = *reinterpret_cast<const float4*>(p + k);
      f[k] = q.x;
      f[k + 1] = q.y;
      f[k + 2] = q.z;
      f[k + 3] = q.w;
    }
  }
}
template <int V>
__device__ __forceinline__ void store_v(bf16* p, const float (&f)[V]) {
  if constexpr (V == 1) {
    *p = __float2bfloat16_rn(f[0]);
  } else {
    union {
      typename std::conditional<V == 8, uint4, uint2>::type u;
      bf16 h[V];
    } pk;
#pragma unroll
    for (int k = 0; k < V; ++k) pk.h[k] = __float2bfloat16_rn(f[k]);
    *reinterpret_cast<decltype(pk.u)*>(p) = pk.u;
  }
}

}  // namespace rcc::cuda
#endif
