// Rows added into rows chosen by an index (train_kernels.h): scatter_add_rows (bf16, distinct
// indices: f32 math, one rounding, deterministic) and embedding_backward (into the f32 table
// gradient with atomics: when ids repeat, the order of the additions into one table row is not
// fixed, so it is not bit-reproducible run to run).
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

// ---- scatter_add_rows ----
// One block per source row; dst row idx[i] += src row i (f32 math, one rounding). The indices are
// distinct, so no two blocks touch one element.
__global__ void scatter_add_rows_vec_kernel(const uint4* src, const int64_t* idx, int64_t W8,
                                            uint4* dst) {
  const int64_t row = blockIdx.x;
  const uint4* s = src + row * W8;
  uint4* d = dst + idx[row] * W8;
  for (int64_t c = threadIdx.x; c < W8; c += blockDim.x) {
    Pack8 a, b;
    a.u = d[c];
    b.u = s[c];
#pragma unroll
    for (int j = 0; j < 8; ++j)
      a.h[j] = __float2bfloat16_rn(__bfloat162float(a.h[j]) + __bfloat162float(b.h[j]));
    d[c] = a.u;
  }
}
__global__ void scatter_add_rows_kernel(const bf16* src, const int64_t* idx, int64_t width,
                                        bf16* dst) {
  const int64_t row = blockIdx.x;
  const bf16* s = src + row * width;
  bf16* d = dst + idx[row] * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
    d[c] = __float2bfloat16_rn(__bfloat162float(d[c]) + __bfloat162float(s[c]));
}

// ---- embedding_backward ----
// One block per input row i: dtable[ids[i], :] += dx[i, :] with f32 atomicAdd (ids may repeat:
// the order of the additions into a repeated row is not deterministic).
__global__ void embedding_backward_kernel(const int32_t* ids, const bf16* dx, int64_t H,
                                          float* dtable) {
  const int64_t row = blockIdx.x;
  const bf16* s = dx + row * H;
  float* d = dtable + int64_t(ids[row]) * H;
  for (int64_t c = threadIdx.x; c < H; c += blockDim.x) atomicAdd(d + c, __bfloat162float(s[c]));
}

}  // namespace

void launch_scatter_add_rows(const bf16* src, const int64_t* idx, int64_t n, int64_t width,
                             bf16* dst, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  RCC_CHECK(n < kMaxRows, "CUDA scatter_add_rows: too many rows (", n, ")");
  if (width % 8 == 0 && aligned(src, 16) && aligned(dst, 16)) {
    const int64_t w8 = width / 8;
    scatter_add_rows_vec_kernel<<<
        unsigned(n), unsigned(std::min<int64_t>(256, (w8 + 31) / 32 * 32)), 0, stream>>>(
        reinterpret_cast<const uint4*>(src), idx, w8, reinterpret_cast<uint4*>(dst));
  } else {
    scatter_add_rows_kernel<<<unsigned(n), unsigned(std::min<int64_t>(256, (width + 31) / 32 * 32)),
                              0, stream>>>(src, idx, width, dst);
  }
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_embedding_backward(const int32_t* ids, int64_t n, const bf16* dx, int64_t H,
                               float* dtable, cudaStream_t stream) {
  if (n <= 0 || H <= 0) return;
  RCC_CHECK(n < kMaxRows, "CUDA embedding_backward: too many rows (", n, ")");
  embedding_backward_kernel<<<unsigned(n), unsigned(std::min<int64_t>(256, (H + 31) / 32 * 32)), 0,
                              stream>>>(ids, dx, H, dtable);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
