// qkv_to_cache: rotary embedding of q and k (rotate-half) fused with the split of the fused QKV
// rows into the query buffer and one layer of the KV cache (bf16 or int8 + scales).
#include <algorithm>

#include "cuda/kernels.h"

namespace rcc::cuda {
namespace {

// Grid (rows, heads); block: hd rounded up to a multiple of 32 threads, thread t owns element t
// of query head h of row r and, in the first query head of each group (h % group == 0), of key
// and value head h / group, which that block writes to the cache. Shared memory: [q | k | v] in
// f32 (3·hd floats).
// Angles as the CPU reference (ops/rotary_cpu.cpp): a = float(pos) · inv_freq[i] in f32 with
// inv_freq computed on the host, cos/sin evaluated in double and rounded to f32.
template <bool kInt8>
__global__ void qkv_to_cache_kernel(QkvToCacheArgs a) {
  extern __shared__ float sh[];  // [3 * hd]
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const int h = blockIdx.y, t = threadIdx.x, hd = a.hd;
  int si = 0;  // the segment (sequence) of row r
  while (si + 1 < a.segments && a.seg[si + 1].row_begin <= r) ++si;
  const QkvSegment& sg = a.seg[si];
  const int group = a.heads / a.kv_heads, j = h / group;
  const bool writes_kv = h % group == 0;
  const bf16* row = a.qkv + r * int64_t(a.heads + 2 * a.kv_heads) * hd;
  const int64_t q_at = a.interleaved ? int64_t(h) * 3 * hd : int64_t(h) * hd;
  const int64_t k_at = a.interleaved ? int64_t(j) * 3 * hd + hd : int64_t(a.heads + j) * hd;
  const int64_t v_at =
      a.interleaved ? int64_t(j) * 3 * hd + 2 * hd : int64_t(a.heads + a.kv_heads + j) * hd;
  for (int i = t; i < hd; i += blockDim.x) {
    sh[i] = __bfloat162float(row[q_at + i]);
    sh[hd + i] = __bfloat162float(row[k_at + i]);
    sh[2 * hd + i] = __bfloat162float(row[v_at + i]);
  }
  __syncthreads();

  const int64_t pos = sg.pos0 + (r - sg.row_begin), crow = sg.cache_row0 + (r - sg.row_begin);
  const int half = a.rot / 2;
  const bool active = t < hd;
  float qv = 0.0f, kv = 0.0f, vv = 0.0f;
  if (active) {
    qv = sh[t];
    kv = sh[hd + t];
    vv = sh[2 * hd + t];
    if (t < 2 * half) {
      const int i = t < half ? t : t - half;
      float c, s;
      if (a.rope) {
        c = a.rope[(pos * half + i) * 2];
        s = a.rope[(pos * half + i) * 2 + 1];
      } else {
        const float ang = float(pos) * a.inv_freq[i];
        c = float(cos(double(ang)));
        s = float(sin(double(ang)));
      }
      if (t < half) {  // x1 = v[i], x2 = v[i + half]: v[i] = x1·c − x2·s
        qv = sh[t] * c - sh[t + half] * s;
        kv = sh[hd + t] * c - sh[hd + t + half] * s;
      } else {  // v[i + half] = x2·c + x1·s
        qv = sh[t] * c + sh[t - half] * s;
        kv = sh[hd + t] * c + sh[hd + t - half] * s;
      }
    }
    a.q_out[r * int64_t(a.heads) * hd + int64_t(h) * hd + t] = __float2bfloat16_rn(qv);
  }
  if (!writes_kv) return;  // the whole block: no barrier follows
  const int64_t cache_off = (crow * a.kv_heads + j) * int64_t(hd) + t;  // [row, j, t]
  if constexpr (!kInt8) {
    if (active) {
      static_cast<bf16*>(sg.k)[cache_off] = __float2bfloat16_rn(kv);
      static_cast<bf16*>(sg.v)[cache_off] = __float2bfloat16_rn(vv);
    }
  } else {
    // Per (position, head) absmax scale: scale = absmax / 127, q = round(x / scale) in [-127, 127];
    // an all-zero vector stores scale 0 and zeros.
    const float kmax = block_max(active ? fabsf(kv) : 0.0f, scratch);
    const float vmax = block_max(active ? fabsf(vv) : 0.0f, scratch);
    const float ks = kmax / 127.0f, vs = vmax / 127.0f;
    if (active) {
      const int kq = ks > 0.0f ? max(-127, min(127, __float2int_rn(kv / ks))) : 0;
      const int vq = vs > 0.0f ? max(-127, min(127, __float2int_rn(vv / vs))) : 0;
      static_cast<int8_t*>(sg.k)[cache_off] = int8_t(kq);
      static_cast<int8_t*>(sg.v)[cache_off] = int8_t(vq);
    }
    if (t == 0) {
      sg.k_scale[crow * a.kv_heads + j] = ks;
      sg.v_scale[crow * a.kv_heads + j] = vs;
    }
  }
}

}  // namespace

void launch_qkv_to_cache(const QkvToCacheArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.heads <= 0) return;
  RCC_CHECK(a.segments >= 1 && a.segments <= kQkvMaxSegments && a.seg[0].row_begin == 0,
            "CUDA qkv_to_cache: ", a.segments, " segments");
  RCC_CHECK(a.hd > 0 && a.hd <= 1024, "CUDA qkv_to_cache: head_dim ", a.hd, " is not in 1..1024");
  RCC_CHECK(a.rot >= 0 && a.rot <= a.hd, "CUDA qkv_to_cache: rotary dims ", a.rot,
            " exceed head_dim ", a.hd);
  RCC_CHECK(a.rows < (int64_t(1) << 31) && a.heads < 65536,
            "CUDA qkv_to_cache: too many rows/heads");
  RCC_CHECK(
      a.kv_heads >= 1 && a.heads % a.kv_heads == 0 && (!a.interleaved || a.kv_heads == a.heads),
      "CUDA qkv_to_cache: ", a.heads, " query heads over ", a.kv_heads, " key/value heads");
  const dim3 grid(unsigned(a.rows), unsigned(a.heads));
  const unsigned threads = unsigned((a.hd + 31) / 32 * 32);
  const size_t smem = size_t(3 * a.hd) * sizeof(float);
  if (a.int8)
    qkv_to_cache_kernel<true><<<grid, threads, smem, stream>>>(a);
  else
    qkv_to_cache_kernel<false><<<grid, threads, smem, stream>>>(a);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
