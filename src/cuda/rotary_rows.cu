// The training pass's rotary embedding over every row of a batch in one launch, in place on the
// fused qkv [rows, heads, 3, hd] (spec §1.4, GPT-NeoX rotate-half): the first 2·(rot/2) dims of
// q and k of row r rotated by the angles of position pos[r] (pos[r] = r − the start of r's
// sequence; rows with pos −1 belong to no sequence and are left alone); v and the dims past the
// rotated region are never touched. The inverse (the backward, on dqkv) rotates by −angle: the
// transpose of the rotation. Angles come from the backend's (cos, sin) table
// (QkvToCacheArgs::rope: a = float(p)·inv_freq[i] in f32, cos/sin in double rounded to f32), the
// same values the inference kernel and the CPU ops use. A pure per-element map: deterministic.
#include "cuda/train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per kVec consecutive pairs (x1 = x[i], x2 = x[i + half], i < half) of one head's q
// or k: it reads both halves and writes both, so no other thread touches its elements (kVec = 8:
// 16-byte loads and stores, when half % 8 == 0 and the buffer is 16-byte aligned; kVec = 1
// otherwise). Forward: x1·c − x2·s, x2·c + x1·s; inverse: x1·c + x2·s, x2·c − x1·s.
// Rows of (heads + 2·kv_heads)·hd: GPT-NeoX's [heads, 3, hd] (kv_heads == heads), or `blocked`
// [q heads | k heads | v heads]; a row's rotated parts are its heads' q and k, in part order p
// (interleaved: head p/2, q or k by p%2; blocked: p·hd, q heads then k heads).
template <int kVec, bool kInverse>
__global__ void __launch_bounds__(kThreads)
    rotary_qkv_rows_kernel(bf16* qkv, int64_t rows, int heads, int kv_heads, bool blocked, int hd,
                           int half, const int32_t* pos, const float* rope) {
  const int per_part = half / kVec;                              // threads per part
  const int64_t per_row = int64_t(heads + kv_heads) * per_part;  // threads per row
  const int64_t idx = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (idx >= rows * per_row) return;
  const int64_t r = idx / per_row;
  const int p = pos[r];
  if (p < 0) return;  // a row outside every sequence: left alone
  const int j = int(idx - r * per_row);
  const int part = j / per_part, i0 = (j % per_part) * kVec;
  const int64_t at = blocked ? int64_t(part) * hd : int64_t(part / 2) * 3 * hd + (part % 2) * hd;
  bf16* x = qkv + r * int64_t(heads + 2 * kv_heads) * hd + at + i0;
  const float* cs = rope + (int64_t(p) * half + i0) * 2;  // (cos, sin) of pair i0, i0 + 1, ...
  bf16 a[kVec], b[kVec];
  if constexpr (kVec == 8) {
    *reinterpret_cast<uint4*>(a) = *reinterpret_cast<const uint4*>(x);
    *reinterpret_cast<uint4*>(b) = *reinterpret_cast<const uint4*>(x + half);
  } else {
    a[0] = x[0], b[0] = x[half];
  }
#pragma unroll
  for (int u = 0; u < kVec; ++u) {
    const float c = cs[2 * u], s = kInverse ? -cs[2 * u + 1] : cs[2 * u + 1];
    const float x1 = __bfloat162float(a[u]), x2 = __bfloat162float(b[u]);
    a[u] = __float2bfloat16_rn(x1 * c - x2 * s);
    b[u] = __float2bfloat16_rn(x2 * c + x1 * s);
  }
  if constexpr (kVec == 8) {
    *reinterpret_cast<uint4*>(x) = *reinterpret_cast<const uint4*>(a);
    *reinterpret_cast<uint4*>(x + half) = *reinterpret_cast<const uint4*>(b);
  } else {
    x[0] = a[0], x[half] = b[0];
  }
}

template <bool kInverse>
void launch_rows(bf16* qkv, int64_t rows, int heads, int kv_heads, bool blocked, int hd, int half,
                 const int32_t* pos, const float* rope, cudaStream_t stream) {
  const bool vec = half % 8 == 0 && hd % 8 == 0 && aligned(qkv, 16);
  const int64_t threads = rows * (heads + kv_heads) * (vec ? half / 8 : half);
  const unsigned blocks = unsigned((threads + kThreads - 1) / kThreads);
  if (vec)
    rotary_qkv_rows_kernel<8, kInverse>
        <<<blocks, kThreads, 0, stream>>>(qkv, rows, heads, kv_heads, blocked, hd, half, pos, rope);
  else
    rotary_qkv_rows_kernel<1, kInverse>
        <<<blocks, kThreads, 0, stream>>>(qkv, rows, heads, kv_heads, blocked, hd, half, pos, rope);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void launch_rotary_qkv_rows(bf16* qkv, int64_t rows, int heads, int hd, int rot, const int32_t* pos,
                            const float* rope, bool inverse, cudaStream_t stream) {
  launch_rotary_qkv_rows(qkv, rows, heads, heads, false, hd, rot, pos, rope, inverse, stream);
}

void launch_rotary_qkv_rows(bf16* qkv, int64_t rows, int heads, int kv_heads, bool blocked, int hd,
                            int rot, const int32_t* pos, const float* rope, bool inverse,
                            cudaStream_t stream) {
  const char* what = "CUDA rotary_qkv";
  RCC_CHECK(kv_heads >= 1 && heads % kv_heads == 0 && (blocked || kv_heads == heads), what, ": ",
            heads, " heads over ", kv_heads, " key/value heads");
  if (rows <= 0 || heads <= 0) return;
  RCC_CHECK(hd > 0 && hd <= 1024, what, ": head_dim ", hd, " is not in 1..1024");
  RCC_CHECK(rot >= 0 && rot <= hd, what, ": rotary dims ", rot, " exceed head_dim ", hd);
  const int half = rot / 2;
  if (half == 0) return;  // nothing rotates
  RCC_CHECK(qkv && pos && rope, what, ": qkv, positions or the rotary table missing");
  RCC_CHECK(rows * heads * rot / kThreads < (int64_t(1) << 31), what, ": too many rows");
  if (inverse)
    launch_rows<true>(qkv, rows, heads, kv_heads, blocked, hd, half, pos, rope, stream);
  else
    launch_rows<false>(qkv, rows, heads, kv_heads, blocked, hd, half, pos, rope, stream);
}

}  // namespace rcc::cuda
