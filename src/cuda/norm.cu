// LayerNorm over rows of bf16 activations: f32 two-pass mean and (biased) variance, f32 weights.
// One warp per row (no block barriers), V-element vector accesses when the row allows them; the
// row is re-read from L1 in each pass. One kernel serves a single norm and the parallel-residual
// pair (two norms of the same x, plus an optional copy of x), which reads x once.
#include <algorithm>

#include "cuda/kernels.h"
#include "cuda/norm_stats.cuh"

namespace rcc::cuda {
namespace {

struct NormOut {
  bf16* y = nullptr;
  const float* w = nullptr;
  const float* b = nullptr;
};

constexpr int kRowsPerBlock = 8;  // warps (rows) per block

// x and o0.y may alias (a single norm in place): each lane writes only the elements it read, after
// the statistics passes (whose warp sums order every read before the writes). The pair's outputs
// and the copy alias nothing.
template <int V, int NOUT>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    layer_norm_rows_kernel(const bf16* x, int64_t rows, int64_t H, float eps, NormOut o0,
                           NormOut o1, bf16* x_copy) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp: only warp-level collectives below
  const int64_t HV = H / V;
  const bf16* xr = x + row * H;
  float mean, inv;
  row_stats<V>(xr, H, eps, lane, mean, inv);
  for (int64_t j = lane; j < HV; j += 32) {
    float xf[V];
    load_v<V>(xr + j * V, xf);
    if (x_copy) store_v<V>(x_copy + row * H + j * V, xf);  // bf16 -> f32 -> bf16 is exact
#pragma unroll
    for (int o = 0; o < NOUT; ++o) {
      const NormOut& out = o == 0 ? o0 : o1;
      float wf[V], bf[V], yf[V];
      load_v<V>(out.w + j * V, wf);
      load_v<V>(out.b + j * V, bf);
#pragma unroll
      for (int k = 0; k < V; ++k) yf[k] = (xf[k] - mean) * inv * wf[k] + bf[k];
      store_v<V>(out.y + row * H + j * V, yf);
    }
  }
}

template <int NOUT>
void launch_rows(const bf16* x, int64_t rows, int64_t H, float eps, const NormOut& o0,
                 const NormOut& o1, bf16* x_copy, cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA layer_norm: too many rows (", rows, ")");
  bool vec = H % 8 == 0 && aligned(x, 16) && (!x_copy || aligned(x_copy, 16));
  for (const NormOut* o : {&o0, &o1})
    if (o->y) vec = vec && aligned(o->y, 16) && aligned(o->w, 16) && aligned(o->b, 16);
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  if (vec)
    layer_norm_rows_kernel<8, NOUT>
        <<<blocks, 32 * kRowsPerBlock, 0, stream>>>(x, rows, H, eps, o0, o1, x_copy);
  else
    layer_norm_rows_kernel<1, NOUT>
        <<<blocks, 32 * kRowsPerBlock, 0, stream>>>(x, rows, H, eps, o0, o1, x_copy);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void launch_layer_norm(const bf16* x, int64_t rows, int64_t H, const float* w, const float* b,
                       float eps, bf16* y, cudaStream_t stream) {
  launch_rows<1>(x, rows, H, eps, {y, w, b}, {}, nullptr, stream);
}

void launch_layer_norm_pair(const bf16* x, int64_t rows, int64_t H, const float* w1,
                            const float* b1, const float* w2, const float* b2, float eps, bf16* y1,
                            bf16* y2, bf16* x_copy, cudaStream_t stream) {
  launch_rows<2>(x, rows, H, eps, {y1, w1, b1}, {y2, w2, b2}, x_copy, stream);
}

}  // namespace rcc::cuda
