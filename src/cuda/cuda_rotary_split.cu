// The training forward's rotary split and its backward over every row of a batch in one launch
// (RCC_SPEC §1, GPT-NeoX rotate-half): qkv [rows, heads, 3, hd] <-> q, k, v [rows, heads·hd],
// the first 2·(rot/2) dims of q and k of row r rotated by the angles of position pos[r]
// (pos[r] = r − the start of r's sequence; rows with pos −1 belong to no sequence and are left
// alone). Angles come from the backend's (cos, sin) table
// (QkvToCacheArgs::rope: a = float(p)·inv_freq[i] in f32, cos/sin in double rounded to f32), the
// same values the inference kernel and the CPU ops use. Pure per-element maps: deterministic.
#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per kVec consecutive elements of one head's q, k or v (kVec = 8: 16-byte loads and
// stores, when hd % 8 == 0 and half % 8 == 0 so that no vector straddles the rotated region or
// its halves; kVec = 1 otherwise). Forward (fused -> split): element t < half of the rotated
// region is x1·c − x2·s, element t ≥ half is x2·c + x1·s, with x1 = x[i], x2 = x[i + half], i =
// t mod half. Backward (split -> fused, the transposed rotation): g1·c + g2·s and g2·c − g1·s.
template <int kVec, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    rotary_rows_kernel(const bf16* fused, const bf16* q, const bf16* k, const bf16* v, int64_t rows,
                       int heads, int hd, int half, const int32_t* pos, const float* rope,
                       bf16* fused_out, bf16* q_out, bf16* k_out, bf16* v_out) {
  const int64_t per_row = int64_t(heads) * 3 * hd / kVec;  // vectors per fused row
  const int64_t idx = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (idx >= rows * per_row) return;
  const int64_t r = idx / per_row;
  const int p = pos[r];
  if (p < 0) return;                            // a row outside every sequence: left alone
  const int e = int(idx - r * per_row) * kVec;  // element within the fused row [heads, 3, hd]
  const int h = e / (3 * hd), rem = e - h * 3 * hd, part = rem / hd, t = rem - part * hd;
  const int64_t W = int64_t(heads) * hd;
  const int64_t fused_at = r * 3 * W + e, split_at = r * W + int64_t(h) * hd + t;
  const bf16* src = kBackward ? (part == 0 ? q : part == 1 ? k : v) + split_at : fused + fused_at;
  bf16* dst = kBackward ? fused_out + fused_at
                        : (part == 0   ? q_out
                           : part == 1 ? k_out
                                       : v_out) +
                              split_at;
  const bool rotated = part < 2 && t < 2 * half;
  if constexpr (kVec == 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(src);
    if (!rotated) {
      *reinterpret_cast<uint4*>(dst) = raw;
      return;
    }
    const bool first = t < half;
    const uint4 other = *reinterpret_cast<const uint4*>(src + (first ? half : -half));
    const int i0 = first ? t : t - half;
    const float4* cs = reinterpret_cast<const float4*>(rope + (int64_t(p) * half + i0) * 2);
    const bf16* xa = reinterpret_cast<const bf16*>(&raw);
    const bf16* xb = reinterpret_cast<const bf16*>(&other);
    uint4 out;
    bf16* o = reinterpret_cast<bf16*>(&out);
#pragma unroll
    for (int u = 0; u < 8; u += 2) {
      const float4 c2 = cs[u / 2];  // (cos, sin) of element u, then of u + 1
      const float c[2] = {c2.x, c2.z}, s[2] = {c2.y, c2.w};
#pragma unroll
      for (int w = 0; w < 2; ++w) {
        const float a = __bfloat162float(xa[u + w]), b = __bfloat162float(xb[u + w]);
        // forward: first a·c − b·s, second a·c + b·s; backward: first a·c + b·s, second a·c − b·s
        const bool minus = first != kBackward;
        o[u + w] = __float2bfloat16_rn(minus ? a * c[w] - b * s[w] : a * c[w] + b * s[w]);
      }
    }
    *reinterpret_cast<uint4*>(dst) = out;
  } else {
    if (!rotated) {
      *dst = *src;
      return;
    }
    const bool first = t < half;
    const int i = first ? t : t - half;
    const float c = rope[(int64_t(p) * half + i) * 2];
    const float s = rope[(int64_t(p) * half + i) * 2 + 1];
    const float a = __bfloat162float(*src), b = __bfloat162float(src[first ? half : -half]);
    const bool minus = first != kBackward;
    *dst = __float2bfloat16_rn(minus ? a * c - b * s : a * c + b * s);
  }
}

template <bool kBackward>
void launch_rotary_rows(const bf16* fused, const bf16* q, const bf16* k, const bf16* v,
                        int64_t rows, int heads, int hd, int rot, const int32_t* pos,
                        const float* rope, bf16* fused_out, bf16* q_out, bf16* k_out, bf16* v_out,
                        cudaStream_t stream) {
  const char* what = kBackward ? "CUDA rotary_split_backward" : "CUDA rotary_split";
  if (rows <= 0 || heads <= 0) return;
  RCC_CHECK(hd > 0 && hd <= 1024, what, ": head_dim ", hd, " is not in 1..1024");
  RCC_CHECK(rot >= 0 && rot <= hd, what, ": rotary dims ", rot, " exceed head_dim ", hd);
  const int half = rot / 2;
  RCC_CHECK(pos && (half == 0 || rope), what, ": positions or the rotary table missing");
  RCC_CHECK(rows * heads * 3 * hd / kThreads < (int64_t(1) << 31), what, ": too many rows");
  const bool vec = hd % 8 == 0 && half % 8 == 0 && aligned(fused ? fused : fused_out, 16) &&
                   aligned(kBackward ? q : q_out, 16) && aligned(kBackward ? k : k_out, 16) &&
                   aligned(kBackward ? v : v_out, 16);
  const int64_t threads = rows * heads * 3 * hd / (vec ? 8 : 1);
  const unsigned blocks = unsigned((threads + kThreads - 1) / kThreads);
  if (vec)
    rotary_rows_kernel<8, kBackward><<<blocks, kThreads, 0, stream>>>(
        fused, q, k, v, rows, heads, hd, half, pos, rope, fused_out, q_out, k_out, v_out);
  else
    rotary_rows_kernel<1, kBackward><<<blocks, kThreads, 0, stream>>>(
        fused, q, k, v, rows, heads, hd, half, pos, rope, fused_out, q_out, k_out, v_out);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void launch_rotary_split_rows(const bf16* qkv, int64_t rows, int heads, int hd, int rot,
                              const int32_t* pos, const float* rope, bf16* q, bf16* k, bf16* v,
                              cudaStream_t stream) {
  launch_rotary_rows<false>(qkv, nullptr, nullptr, nullptr, rows, heads, hd, rot, pos, rope,
                            nullptr, q, k, v, stream);
}

void launch_rotary_split_rows_backward(const bf16* dq, const bf16* dk, const bf16* dv, int64_t rows,
                                       int heads, int hd, int rot, const int32_t* pos,
                                       const float* rope, bf16* dqkv, cudaStream_t stream) {
  launch_rotary_rows<true>(nullptr, dq, dk, dv, rows, heads, hd, rot, pos, rope, dqkv, nullptr,
                           nullptr, nullptr, stream);
}

}  // namespace rcc::cuda
