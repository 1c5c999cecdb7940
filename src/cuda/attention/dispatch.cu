// Attention dispatch (flash prefill / split-K decode / simple fallback), the combine kernel of
// split partials, and the fallback kernel for head dims without a specialised kernel.
#include <algorithm>
#include <atomic>

#include "cuda/kernels.h"

namespace rcc::cuda {
namespace {

int64_t cdiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Fallback: any head_dim ≤ 256, any cache type, any alignment. Grid (ceil(rows/4), heads), block
// 4 warps; warp w owns query row 4·blockIdx.x + w. Keys in blocks of 32 (lane j scores key kb + j
// with a full dot product), online softmax in f32, output dims lane + 32i (i < 8) in registers.
constexpr int kFbWarps = 4;
__global__ void __launch_bounds__(kFbWarps * 32) fallback_attention_kernel(AttentionArgs a) {
  extern __shared__ float qs[];  // [kFbWarps][hd]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kFbWarps + warp;
  const int h = blockIdx.y, hd = a.hd;
  if (r >= a.rows) return;  // warp-uniform; no block barrier below
  float* qw = qs + warp * hd;
  for (int d = lane; d < hd; d += 32)
    qw[d] = __bfloat162float(a.q[r * a.q_stride + int64_t(h) * a.q_head + d]) * a.scale_log2;
  __syncwarp();

  const int64_t nk = a.past + r + 1;  // keys 0..past+r
  const int64_t hoff = int64_t(h / a.group) * a.kv_head;
  float m = -INFINITY, l = 0.0f;
  float acc[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
  for (int64_t kb = 0; kb < nk; kb += 32) {
    const int64_t key = kb + lane;
    float s = -INFINITY;
    if (key < nk) {
      float dot = 0.0f;
      if (a.int8) {
        const int8_t* kr = static_cast<const int8_t*>(a.k) + key * a.kv_stride + hoff;
        for (int d = 0; d < hd; ++d) dot = fmaf(qw[d], float(kr[d]), dot);
        dot *= a.k_scale[key * (a.heads / a.group) + h / a.group];
      } else {
        const bf16* kr = static_cast<const bf16*>(a.k) + key * a.kv_stride + hoff;
        for (int d = 0; d < hd; ++d) dot = fmaf(qw[d], __bfloat162float(kr[d]), dot);
      }
      s = dot;
    }
    const float m_new = fmaxf(m, warp_max(s));  // finite: key kb is always visible
    const float corr = exp2f(m - m_new);
    const float p = exp2f(s - m_new);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i] *= corr;
    const int cnt = nk - kb < 32 ? int(nk - kb) : 32;
    for (int j = 0; j < cnt; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const int64_t kj = kb + j;
      const float vs = a.int8 ? a.v_scale[kj * (a.heads / a.group) + h / a.group] : 1.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) {
          const int64_t off = kj * a.kv_stride + hoff + d;
          const float v = a.int8 ? float(static_cast<const int8_t*>(a.v)[off]) * vs
                                 : __bfloat162float(static_cast<const bf16*>(a.v)[off]);
          acc[i] = fmaf(pj, v, acc[i]);
        }
      }
    }
    m = m_new;
  }
  const float inv = 1.0f / l;
  if (a.lse && lane == 0) a.lse[r * a.heads + h] = l > 0.0f ? m + log2f(l) : -INFINITY;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) a.out[r * a.out_stride + int64_t(h) * hd + d] = __float2bfloat16_rn(acc[i] * inv);
  }
}

// Grid (rows, heads), block 128: merges the splits' partials of one (row, head).
__global__ void combine_kernel(AttentionArgs a, int splits, Partials part) {
  extern __shared__ float w[];  // [splits]
  __shared__ float wsum_sh;
  const int64_t r = blockIdx.x;
  const int h = blockIdx.y, hd = a.hd;
  const int64_t p0 = (r * a.heads + h) * splits;
  // A slot no split wrote holds NaN (batched decoding: rows with fewer slots than others); fmaxf
  // passes over it, and it weighs 0. Finite: every row sees its own key.
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part.lse[p0 + s]);
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    const float lse = part.lse[p0 + s];
    w[s] = (lse == -INFINITY || lse != lse) ? 0.0f : exp2f(lse - mx);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int s = 0; s < splits; ++s) t += w[s];
    wsum_sh = t;
    // training: log2-sum-exp of the whole row (the splits' sums 2^lse_s rescaled to 2^mx)
    if (a.lse) a.lse[r * a.heads + h] = t > 0.0f ? mx + log2f(t) : -INFINITY;
  }
  __syncthreads();
  const float inv = 1.0f / wsum_sh;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s)
      if (w[s] != 0.0f) acc = fmaf(w[s], part.o[(p0 + s) * hd + d], acc);
    a.out[r * a.out_stride + int64_t(h) * hd + d] = __float2bfloat16_rn(acc * inv);
  }
}

}  // namespace

std::vector<AttnTile> causal_tiles(const SeqRows* seqs, int64_t n_seqs, int tile_rows,
                                   bool query_tiles, bool key_tiles) {
  struct Item {
    AttnTile t;
    int64_t work;  // tiles of the other side that this tile meets
  };
  std::vector<Item> items;
  const int64_t limit = (int64_t(1) << 31) - 1 - tile_rows;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const SeqRows& q = seqs[s];
    RCC_CHECK(q.n >= 1 && q.begin >= 0 && q.begin + q.n <= limit, "CUDA attention: sequence ", s,
              " (rows ", q.begin, " + ", q.n, ") is empty or beyond the batched kernels' range");
    const int64_t T = cdiv(q.n, tile_rows);
    for (int64_t j = 0; j < T; ++j) {
      const int32_t b = int32_t(q.begin), n = int32_t(q.n);
      if (key_tiles) items.push_back({{b, n, int32_t(j), 1}, T - j});
      if (query_tiles) items.push_back({{b, n, int32_t(T - 1 - j), 0}, T - j});
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.work > b.work; });
  std::vector<AttnTile> out;
  out.reserve(items.size());
  for (const Item& i : items) out.push_back(i.t);
  return out;
}

bool sm90_available() {
#ifdef RCC_HAS_SM90
  // Asked before every training attention launch: the answer is kept per device (0 not yet
  // known, 1 no, 2 yes; devices 0..63, others queried every time).
  static std::atomic<uint8_t> known[64];
  int dev = 0;
  RCC_CUDA_CHECK(cudaGetDevice(&dev));
  const bool cached = dev >= 0 && dev < 64;
  if (cached) {
    const uint8_t k = known[dev].load(std::memory_order_relaxed);
    if (k) return k == 2;
  }
  int major = 0, minor = 0;
  RCC_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  RCC_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  const bool ok = major == 9 && minor == 0;  // sm_90a code runs on compute capability 9.0 only
  if (cached) known[dev].store(ok ? 2 : 1, std::memory_order_relaxed);
  return ok;
#else
  return false;
#endif
}

TileChunk tile_chunk(const std::vector<AttnTile>& tiles, size_t first, size_t count) {
  RCC_CHECK(count <= size_t(kTilesPerLaunch) && first + count <= tiles.size(),
            "CUDA attention: tile chunk out of range");
  TileChunk c{};
  std::copy(tiles.begin() + std::ptrdiff_t(first), tiles.begin() + std::ptrdiff_t(first + count),
            c.t);
  return c;
}

Partials partials_in(void* workspace, int64_t rows, int heads, int splits, int hd) {
  Partials p;
  p.o = static_cast<float*>(workspace);
  p.lse = p.o + rows * heads * int64_t(splits) * hd;
  return p;
}

void launch_attention_combine(const AttentionArgs& a, int splits, Partials part,
                              cudaStream_t stream) {
  combine_kernel<<<dim3(unsigned(a.rows), unsigned(a.heads)), 128, size_t(splits) * sizeof(float),
                   stream>>>(a, splits, part);
  RCC_CUDA_LAUNCH_CHECK();
}

void launch_fallback_attention(const AttentionArgs& a, cudaStream_t stream) {
  RCC_CHECK(a.hd >= 1 && a.hd <= 256, "CUDA attention: head_dim ", a.hd, " is not in 1..256");
  const dim3 grid(unsigned(cdiv(a.rows, kFbWarps)), unsigned(a.heads));
  fallback_attention_kernel<<<grid, kFbWarps * 32, size_t(kFbWarps) * a.hd * sizeof(float),
                              stream>>>(a);
  RCC_CUDA_LAUNCH_CHECK();
}

void check_head_layout(const AttentionArgs& a) {
  RCC_CHECK(a.group >= 1 && a.heads % a.group == 0, "CUDA attention: ", a.heads,
            " query heads in groups of ", a.group);
  RCC_CHECK(a.hd >= 1 && a.heads >= 1 && a.q_head >= a.hd && a.kv_head >= a.hd &&
                a.q_stride >= a.q_head * (a.heads - 1) + a.hd &&
                a.kv_stride >= a.kv_head * (a.heads / a.group - 1) + a.hd,
            "CUDA attention: ", a.heads, " heads of ", a.hd, " do not fit q rows (stride ",
            a.q_stride, ", head ", a.q_head, ") or k/v rows (stride ", a.kv_stride, ", head ",
            a.kv_head, ")");
}

AttentionPlan plan_attention(const AttentionArgs& a, int num_sms) {
  check_head_layout(a);
  AttentionPlan p;
  const int64_t n_keys = a.past + a.rows;
  if (decode_supported(a)) {
    // Enough blocks for ~4 per SM, each split between 256 and 2048 keys (the scores of a split
    // stay in shared memory).
    p.path = AttentionPath::Decode;
    const int64_t target = cdiv(int64_t(4) * num_sms, a.heads);
    int64_t splits = std::max(cdiv(n_keys, 2048), std::min(target, cdiv(n_keys, 256)));
    splits = std::max<int64_t>(1, splits);
    const int64_t chunk = cdiv(n_keys, splits);
    p.splits = int(cdiv(n_keys, chunk));  // no empty split
    p.chunk = chunk;
  } else if (a.rows > kDecodeMaxRows && flash_supported(a)) {
    // Split the keys only when query tiles × heads leave the SMs idle and the cache is long.
    p.path = AttentionPath::Flash;
    const int64_t blocks = cdiv(a.rows, kFlashBlockM) * a.heads;
    const int64_t max_tiles = cdiv(n_keys, kFlashBlockN);
    int64_t splits = 1;
    if (blocks < 2 * int64_t(num_sms) && max_tiles >= 8)
      splits = std::min<int64_t>({cdiv(int64_t(4) * num_sms, blocks), max_tiles / 4, 64});
    splits = std::max<int64_t>(1, splits);
    const int64_t tps = cdiv(max_tiles, splits);
    p.splits = int(cdiv(max_tiles, tps));
    p.chunk = tps;
  } else {
    p.path = AttentionPath::Fallback;
  }
  if (p.path == AttentionPath::Decode || p.splits > 1)
    p.workspace_bytes = size_t(a.rows) * size_t(a.heads) * size_t(p.splits) * size_t(a.hd + 1) * 4;
  return p;
}

void run_attention(const AttentionArgs& a, const AttentionPlan& plan, void* workspace,
                   cudaStream_t stream) {
  if (a.rows <= 0) return;
  const Partials part = plan.workspace_bytes
                            ? partials_in(workspace, a.rows, a.heads, plan.splits, a.hd)
                            : Partials{};
  switch (plan.path) {
    case AttentionPath::Decode:
      launch_decode_attention(a, plan.splits, plan.chunk, part, stream);
      launch_attention_combine(a, plan.splits, part, stream);
      break;
    case AttentionPath::Flash:
      launch_flash_attention(a, plan.splits, plan.chunk, part, stream);
      if (plan.splits > 1) launch_attention_combine(a, plan.splits, part, stream);
      break;
    case AttentionPath::Fallback:
      launch_fallback_attention(a, stream);
      break;
  }
}

}  // namespace rcc::cuda
