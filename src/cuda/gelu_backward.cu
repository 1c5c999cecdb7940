// GELU's backward alone (launch_gelu_backward, train_kernels.h): dx = dy · GELU'(pre), element by
// element, bf16 storage with f32 math (GELU' in train_common.cuh); dx may alias dy. The form that
// also takes the bias gradient is in bias_grad.cu. A pure per-element map: deterministic.
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

// dx may alias dy: each element is read before it is written, by the same thread.
__global__ void gelu_backward_vec_kernel(const uint4* pre, const uint4* dy, uint4* dx, int64_t n8) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n8;
       i += int64_t(gridDim.x) * blockDim.x) {
    Pack8 x, g;
    x.u = pre[i];
    g.u = dy[i];
#pragma unroll
    for (int j = 0; j < 8; ++j)
      g.h[j] =
          __float2bfloat16_rn(__bfloat162float(g.h[j]) * gelu_grad_f(__bfloat162float(x.h[j])));
    dx[i] = g.u;
  }
}
__global__ void gelu_backward_kernel(const bf16* pre, const bf16* dy, bf16* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = __float2bfloat16_rn(__bfloat162float(dy[i]) * gelu_grad_f(__bfloat162float(pre[i])));
}

}  // namespace

void launch_gelu_backward(const bf16* pre, const bf16* dy, bf16* dx, int64_t n,
                          cudaStream_t stream) {
  if (n <= 0) return;
  if (n % 8 == 0 && aligned(pre, 16) && aligned(dy, 16) && aligned(dx, 16)) {
    gelu_backward_vec_kernel<<<grid_for(n / 8), kThreads, 0, stream>>>(
        reinterpret_cast<const uint4*>(pre), reinterpret_cast<const uint4*>(dy),
        reinterpret_cast<uint4*>(dx), n / 8);
  } else {
    gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(pre, dy, dx, n);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
