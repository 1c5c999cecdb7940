// Backward of the rotary split (the training forward's qkv [rows, heads, 3, hd] -> rotated q, k and
// v [rows, heads·hd]): dq and dk rotated back by −angle (the transpose of the forward rotation),
// dv copied, all interleaved into dqkv [rows, heads, 3, hd]. Deterministic (pure per-element map).
#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {
namespace {

// One block per row r. The rot/2 angles of the row's position are shared by every head: the
// block evaluates them once into shared memory, exactly as the forward (cuda_rotary.cu, and
// ops/rotary_cpu.cpp): a = float(pos) · inv_freq[i] in f32, cos/sin in double rounded to f32.
// Then thread e of the row's heads·hd elements (h = e / hd, t = e % hd) writes element t of dq, dk
// and dv of head h into dqkv [r, h, 0..2, t] (coalesced loads and stores along t).
// Forward: (x1, x2) -> (x1 c − x2 s, x2 c + x1 s); transpose: (g1, g2) -> (g1 c + g2 s, g2 c − g1
// s) with g1 = g[i], g2 = g[i + half] (ops/rotary_backward_cpu.cpp).
constexpr int kRotThreads = 256;
__global__ void __launch_bounds__(kRotThreads)
    rotary_split_backward_kernel(const bf16* dq, const bf16* dk, const bf16* dv, int heads, int hd,
                                 int rot, const float* inv_freq, const float* rope, int64_t pos0,
                                 bf16* dqkv) {
  extern __shared__ float cs[];  // [half] cos | [half] sin
  const int64_t r = blockIdx.x;
  const int half = rot / 2;
  const int64_t pos = pos0 + r;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    if (rope) {
      cs[i] = rope[(pos * half + i) * 2];
      cs[half + i] = rope[(pos * half + i) * 2 + 1];
    } else {
      const float ang = float(pos) * inv_freq[i];
      cs[i] = float(cos(double(ang)));
      cs[half + i] = float(sin(double(ang)));
    }
  }
  __syncthreads();
  const int W = heads * hd;
  const bf16* q = dq + r * W;
  const bf16* k = dk + r * W;
  const bf16* v = dv + r * W;
  bf16* out = dqkv + r * 3 * int64_t(W);
  for (int e = threadIdx.x; e < W; e += blockDim.x) {
    const int h = e / hd, t = e - h * hd;
    bf16* o = out + 3 * h * hd + t;  // [h, 0, t]
    if (t < 2 * half) {
      const int i = t < half ? t : t - half;
      const int e1 = e - t + i;  // element i of head h
      const float c = cs[i], sn = cs[half + i];
      const float q1 = __bfloat162float(q[e1]), q2 = __bfloat162float(q[e1 + half]);
      const float k1 = __bfloat162float(k[e1]), k2 = __bfloat162float(k[e1 + half]);
      if (t < half) {  // d1 = g1·c + g2·s
        o[0] = __float2bfloat16_rn(q1 * c + q2 * sn);
        o[hd] = __float2bfloat16_rn(k1 * c + k2 * sn);
      } else {  // d2 = g2·c − g1·s
        o[0] = __float2bfloat16_rn(q2 * c - q1 * sn);
        o[hd] = __float2bfloat16_rn(k2 * c - k1 * sn);
      }
    } else {
      o[0] = q[e];
      o[hd] = k[e];
    }
    o[2 * hd] = v[e];
  }
}

}  // namespace

void launch_rotary_split_backward(const bf16* dq, const bf16* dk, const bf16* dv, int64_t rows,
                                  int heads, int hd, int rot, const float* inv_freq,
                                  const float* rope, int64_t pos0, bf16* dqkv,
                                  cudaStream_t stream) {
  if (rows <= 0 || heads <= 0) return;
  RCC_CHECK(hd > 0 && hd <= 1024, "CUDA rotary_split_backward: head_dim ", hd,
            " is not in 1..1024");
  RCC_CHECK(rot >= 0 && rot <= hd, "CUDA rotary_split_backward: rotary dims ", rot,
            " exceed head_dim ", hd);
  RCC_CHECK(rot < 2 || inv_freq != nullptr || rope != nullptr,
            "CUDA rotary_split_backward: neither inv_freq nor a rotary table");
  RCC_CHECK(rows < (int64_t(1) << 31) && int64_t(heads) * hd < (int64_t(1) << 31) / 3,
            "CUDA rotary_split_backward: too many rows/heads");
  const size_t smem = size_t(rot / 2) * 2 * sizeof(float);
  rotary_split_backward_kernel<<<unsigned(rows), kRotThreads, smem, stream>>>(
      dq, dk, dv, heads, hd, rot, inv_freq, rope, pos0, dqkv);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
