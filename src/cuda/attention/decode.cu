// Attention for a few query rows (decoding) against long caches: flash-decoding split-K, as jobs
// (kernels.h DecodeJob): a job is up to kDecodeMaxRows query rows against one segment of keys (a
// whole cache, a shared prefix, or a continued cache's own positions), so one launch serves every
// sequence of a decoding batch and rows sharing a prefix read it once.
//
// Grid (max splits, heads, jobs); block 128 threads; one block handles ALL rows of its job for one
// head against its split's chunk of keys [z·chunk, min((z+1)·chunk, n_keys)), so every key and
// value is read once per job. Threads form groups of CH = HD/8: a group reads one key row (8
// elements, one 16-byte bf16 or 8-byte int8 load per thread; consecutive groups read consecutive
// keys, all rows of a head are contiguous 2·HD-byte segments) and KPI = 128/CH keys are in flight
// per step, ×4 unrolled.
//   1. scores s[r][j] = (q_r·k_j)·scale·log2(e) into shared memory (masked: a key past the row);
//   2. per row max and Σ 2^(s − max) over the chunk (block reductions), s ← p;
//   3. acc[r][8 dims] += p·v over the group's keys, reduced across groups in shared memory;
// and writes the f32 partial (output / sum, log2-sum-exp) for launch_attention_combine.
#include <algorithm>

#include "cuda/kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int R = kDecodeMaxRows;
constexpr int kUnroll = 4;

// 8 consecutive cache elements at `p` (bf16 or int8) as f32, times `scale` for int8.
template <bool kInt8>
__device__ __forceinline__ void load8(const void* base, int64_t off, float scale, float (&f)[8]) {
  if constexpr (!kInt8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(static_cast<const bf16*>(base) + off);
    const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = __bfloat162float(h[i]);
  } else {
    const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const int8_t*>(base) + off);
    const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = float(b[i]) * scale;
  }
}

template <int HD, bool kInt8>
__global__ void __launch_bounds__(kThreads)
    decode_attention_kernel(AttentionArgs a, DecodeJobs jobs, int slots, int stride,
                            Partials part) {
  constexpr int CH = HD / 8;          // threads per key row
  constexpr int KPI = kThreads / CH;  // keys per step
  static_assert(CH <= 32 && 32 % CH == 0, "a key's group must lie within one warp");
  static_assert(R <= 4, "DecodeJob holds 4 rows");
  const DecodeJob& job = jobs.j[blockIdx.z];
  const int z = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
  if (z >= job.splits) return;  // block-uniform
  extern __shared__ float sm[];
  const int rows = job.rows, chunk = job.chunk;
  float* sc = sm;                   // [rows][stride] scores, then probabilities
  float* red = sm + rows * stride;  // [KPI][rows][HD] partial outputs
  __shared__ float scratch[32];
  __shared__ float row_m[R], row_l[R];

  const int c = tid % CH, kg = tid / CH;
  const int64_t k0 = int64_t(z) * chunk;
  const int64_t n_left = job.n_keys - k0;
  const int n = n_left < chunk ? int(n_left) : chunk;  // ≥ 1 by construction of the plan

  // This thread's 8 query dims of every row, pre-scaled.
  float q[R][8];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r < rows) {
      const uint4 raw = *reinterpret_cast<const uint4*>(a.q + job.row[r] * a.q_stride +
                                                        int64_t(h) * a.q_head + c * 8);
      const bf16* hq = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
      for (int i = 0; i < 8; ++i) q[r][i] = __bfloat162float(hq[i]) * a.scale_log2;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) q[r][i] = 0.0f;
    }
  }

  const int64_t head_off = int64_t(h / a.group) * a.kv_head + c * 8;
  // 1. scores. The loop bounds are block-uniform so that whole warps shuffle together.
  for (int base = 0; base < n; base += kUnroll * KPI) {
    float kf[kUnroll][8];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + u * KPI + kg;
      if (j < n) {
        const int64_t key = k0 + j;
        const float s = kInt8 ? job.k_scale[key * (a.heads / a.group) + h / a.group] : 1.0f;
        load8<kInt8>(job.k, key * a.kv_stride + head_off, s, kf[u]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) kf[u][i] = 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + u * KPI + kg;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r >= rows) break;  // block-uniform
        float d = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) d = fmaf(q[r][i], kf[u][i], d);
#pragma unroll
        for (int off = CH / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        if (c == 0 && j < n)
          sc[r * stride + j] = (job.key_pos0 + k0 + j <= job.pos[r]) ? d : -INFINITY;
      }
    }
  }
  __syncthreads();

  // 2. softmax statistics per row over the chunk.
  for (int r = 0; r < rows; ++r) {
    float mx = -INFINITY;
    for (int j = tid; j < n; j += kThreads) mx = fmaxf(mx, sc[r * stride + j]);
    mx = block_max(mx, scratch);
    const float m_use = mx == -INFINITY ? 0.0f : mx;
    float sum = 0.0f;
    for (int j = tid; j < n; j += kThreads) {
      const float p = exp2f(sc[r * stride + j] - m_use);
      sc[r * stride + j] = p;
      sum += p;
    }
    sum = block_sum(sum, scratch);
    if (tid == 0) {
      row_m[r] = mx;
      row_l[r] = sum;
    }
  }
  __syncthreads();

  // 3. acc[r][i] = Σ_j p[r][j] · v[j][c·8 + i] over this group's keys.
  float acc[R][8];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[r][i] = 0.0f;
  for (int base = 0; base < n; base += kUnroll * KPI) {
    float vf[kUnroll][8];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + u * KPI + kg;
      if (j < n) {
        const int64_t key = k0 + j;
        const float s = kInt8 ? job.v_scale[key * (a.heads / a.group) + h / a.group] : 1.0f;
        load8<kInt8>(job.v, key * a.kv_stride + head_off, s, vf[u]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) vf[u][i] = 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + u * KPI + kg;
      if (j >= n) continue;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r >= rows) break;
        const float p = sc[r * stride + j];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r][i] = fmaf(p, vf[u][i], acc[r][i]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= rows) break;
#pragma unroll
    for (int i = 0; i < 8; ++i) red[(kg * rows + r) * HD + c * 8 + i] = acc[r][i];
  }
  __syncthreads();
  for (int e = tid; e < rows * HD; e += kThreads) {
    const int r = e / HD, d = e % HD;
    float s = 0.0f;
#pragma unroll
    for (int gi = 0; gi < KPI; ++gi) s += red[(gi * rows + r) * HD + d];
    const float l = row_l[r];
    const int64_t pi = (int64_t(job.row[r]) * a.heads + h) * slots + job.slot0 + z;
    part.o[pi * HD + d] = l > 0.0f ? s / l : 0.0f;
  }
  if (tid < rows) {
    const float l = row_l[tid];
    part.lse[(int64_t(job.row[tid]) * a.heads + h) * slots + job.slot0 + z] =
        l > 0.0f ? row_m[tid] + log2f(l) : -INFINITY;
  }
}

template <int HD, bool kInt8>
void launch_decode(const AttentionArgs& a, const DecodeJobs& jobs, int slots, Partials part,
                   cudaStream_t stream) {
  constexpr int KPI = kThreads / (HD / 8);
  int stride = 1, splits = 1, rows = 1;
  for (int i = 0; i < jobs.n; ++i) {
    stride = std::max(stride, jobs.j[i].chunk);
    splits = std::max(splits, jobs.j[i].splits);
    rows = std::max(rows, jobs.j[i].rows);
  }
  const size_t smem = (size_t(rows) * stride + size_t(KPI) * rows * HD) * sizeof(float);
  auto kernel = decode_attention_kernel<HD, kInt8>;
  RCC_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  kernel<<<dim3(unsigned(splits), unsigned(a.heads), unsigned(jobs.n)), kThreads, smem, stream>>>(
      a, jobs, slots, stride, part);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace

bool decode_supported(const AttentionArgs& a) {
  if (a.hd != 64 && a.hd != 128 && a.hd != 256) return false;
  if (a.rows < 1 || a.rows > kDecodeMaxRows) return false;
  if (!aligned(a.q, 16) || a.q_stride % 8 != 0 || a.q_head % 8 != 0) return false;
  const size_t kv_bytes = a.int8 ? 8 : 16;  // bytes of 8 elements
  if (!aligned(a.k, kv_bytes) || !aligned(a.v, kv_bytes) || a.kv_stride % 8 != 0 ||
      a.kv_head % 8 != 0)
    return false;
  return a.heads < 65536;
}

void plan_decode_job(DecodeJob& job, int heads, int num_sms) {
  const int64_t n = std::max<int64_t>(1, job.n_keys);
  const int64_t target = std::max<int64_t>(1, (int64_t(4) * num_sms + heads - 1) / heads);
  int64_t splits = std::max((n + 2047) / 2048, std::min(target, (n + 255) / 256));
  splits = std::max<int64_t>(1, splits);
  const int64_t chunk = (n + splits - 1) / splits;
  job.chunk = int(chunk);
  job.splits = int((n + chunk - 1) / chunk);  // no empty split
}

void launch_decode_jobs(const AttentionArgs& a, const DecodeJobs& jobs, int slots, Partials part,
                        cudaStream_t stream) {
  if (jobs.n == 0) return;
  RCC_CHECK(jobs.n <= kDecodeMaxJobs, "CUDA decode attention: ", jobs.n, " jobs in one launch");
  for (int i = 0; i < jobs.n; ++i) {
    const DecodeJob& j = jobs.j[i];
    RCC_CHECK(j.rows >= 1 && j.rows <= kDecodeMaxRows && j.n_keys >= 1 && j.chunk >= 1 &&
                  j.chunk <= 2048 && j.splits >= 1 && j.slot0 + j.splits <= slots &&
                  int64_t(j.splits) * j.chunk >= j.n_keys,
              "CUDA decode attention: a malformed job (", j.rows, " rows, ", j.n_keys, " keys)");
  }
  switch (a.hd) {
    case 64:
      return a.int8 ? launch_decode<64, true>(a, jobs, slots, part, stream)
                    : launch_decode<64, false>(a, jobs, slots, part, stream);
    case 128:
      return a.int8 ? launch_decode<128, true>(a, jobs, slots, part, stream)
                    : launch_decode<128, false>(a, jobs, slots, part, stream);
    case 256:
      return a.int8 ? launch_decode<256, true>(a, jobs, slots, part, stream)
                    : launch_decode<256, false>(a, jobs, slots, part, stream);
    default:
      fail("CUDA decode attention: head_dim ", a.hd, " not supported");
  }
}

void launch_decode_attention(const AttentionArgs& a, int splits, int64_t chunk, Partials part,
                             cudaStream_t stream) {
  // One job: every row of `a` against its whole cache, positions past + r.
  DecodeJobs jobs;
  jobs.n = 1;
  DecodeJob& j = jobs.j[0];
  j.rows = int(a.rows);
  for (int r = 0; r < j.rows; ++r) {
    j.row[r] = r;
    j.pos[r] = a.past + r;
  }
  j.k = a.k;
  j.v = a.v;
  j.k_scale = a.k_scale;
  j.v_scale = a.v_scale;
  j.n_keys = a.past + a.rows;
  j.key_pos0 = 0;
  j.slot0 = 0;
  j.splits = splits;
  j.chunk = int(chunk);
  launch_decode_jobs(a, jobs, splits, part, stream);
}

}  // namespace rcc::cuda
