// The optimizer's gradient clipping over the flat f32 gradient buffer (train_kernels.h):
// sum_squares (Σ x², in double: per-block partials, then one block adds them in a fixed order;
// the grid depends only on n, so the result is the same on every GPU) and scale_f32 (x *= s).
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

// ---- sum_squares ----
constexpr int kSsThreads = 256;
constexpr int64_t kSsMaxBlocks = 1024;
int64_t sum_squares_blocks(int64_t n) {
  return std::max<int64_t>(
      1, std::min<int64_t>(kSsMaxBlocks, (n + 4 * kSsThreads - 1) / (4 * kSsThreads)));
}
__device__ __forceinline__ double block_sum_d(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double r = lane < nwarps ? scratch[lane] : 0.0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) r += __shfl_xor_sync(0xffffffffu, r, o);
  return r;
}
// Stage 1: block b sums x[i]² (in double: the f32 square is exact in double) over its grid-stride
// share into partials[b]. Stage 2: one block adds the partials. The grid depends only on n.
__global__ void __launch_bounds__(kSsThreads)
    sum_squares_partial_kernel(const float* x, int64_t n, double* partials) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const double v = x[i];
    s += v * v;
  }
  s = block_sum_d(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}
__global__ void __launch_bounds__(kSsThreads)
    sum_squares_final_kernel(const double* partials, int nparts, double* out) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partials[i];
  s = block_sum_d(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

// ---- scale_f32 ----
__global__ void scale_f32_kernel(float* x, int64_t n, float s) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = x[i] * s;
}

}  // namespace

size_t sum_squares_workspace(int64_t n) {
  return size_t(sum_squares_blocks(n)) * sizeof(double);
}

void launch_sum_squares(const float* x, int64_t n, void* partials, double* out,
                        cudaStream_t stream) {
  if (n <= 0) {  // the sum of nothing: still define *out
    RCC_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream));
    return;
  }
  const int64_t blocks = sum_squares_blocks(n);
  double* part = static_cast<double*>(partials);
  sum_squares_partial_kernel<<<unsigned(blocks), kSsThreads, 0, stream>>>(x, n, part);
  RCC_CUDA_LAUNCH_CHECK();
  sum_squares_final_kernel<<<1, kSsThreads, 0, stream>>>(part, int(blocks), out);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_scale_f32(float* x, int64_t n, float s, cudaStream_t stream) {
  if (n <= 0) return;
  scale_f32_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, n, s);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
