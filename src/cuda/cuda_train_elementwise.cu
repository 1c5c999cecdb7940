// Training kernels of the element-wise kind: GELU backward (with its bias gradient), row
// scatter-add, embedding backward, cross-entropy (loss and dlogits), sum of squares, scaling and
// AdamW. bf16 storage with f32 math; f32 weight gradients, master weights and optimizer moments.
//
// Determinism: every kernel here produces bit-identical results run to run except
// embedding_backward (f32 atomics: when ids repeat, the order of the additions into one table row
// is not fixed). Grids depend only on the sizes, never on the device, so the fixed reduction
// orders (cross_entropy, sum_squares) are the same on every GPU.
#include <algorithm>
#include <cmath>

#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxRows = int64_t(1) << 31;  // one block per row: gridDim.x < 2^31

// Grid for n work items with a grid-stride loop (bounded so that huge n still launches).
unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65536)));
}

// 8 bf16 in one 16-byte word.
union Pack8 {
  uint4 u;
  bf16 h[8];
};
// 4 bf16 in one 8-byte word.
union Pack4 {
  uint2 u;
  bf16 h[4];
};

// ---- gelu_backward ----
// GELU'(x) = Φ(x) + x·φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π); f32 with the
// accurate erff/expf (no fast-math intrinsics).
__device__ __forceinline__ float gelu_grad_f(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752440f));
  const float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

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

// Column sums of a [rows, width] bf16 matrix (a bias gradient), deterministic, in one launch:
// grid (column tiles of 32·V, row chunks), block (32, kColLanes); thread (x, y) owns columns
// x·V .. x·V + V − 1 of its tile and rows y, y + kColLanes, ... of its chunk; the lanes' sums are
// added in lane order through shared memory into the chunk's partial row [chunks, width]. The
// last block of a column tile to finish (a per-tile counter, reset by that block) adds the
// tile's partial rows in a fixed order (thread (x, y): chunks y, y + kColLanes, ..., then the
// lanes in order) into db (and db2): which block does it varies, the order never does.
// V = 8 (16-byte accesses) or 1. kGelu: gelu_backward with the column sums of its output
// (dx = dy · GELU'(pre) written, then summed); else the sums of dy itself (pre, dx unused).
constexpr int kColLanes = 8;
constexpr int64_t kColChunkRows = 128;
constexpr int64_t kColMaxChunks = 65535;  // gridDim.y

struct ColChunks {
  int64_t rows_per_chunk, chunks;
};
ColChunks col_chunks(int64_t rows) {
  ColChunks c{kColChunkRows, (rows + kColChunkRows - 1) / kColChunkRows};
  if (c.chunks > kColMaxChunks) {
    c.rows_per_chunk = (rows + kColMaxChunks - 1) / kColMaxChunks;
    c.chunks = (rows + c.rows_per_chunk - 1) / c.rows_per_chunk;
  }
  return c;
}

// The kColLanes lane sums `acc` of each column of the block's tile added in lane order through
// shared memory: out(c, Σ) for every column c < width of the tile (a barrier inside; the caller
// synchronises before sp is written again).
template <int V, class Out>
__device__ __forceinline__ void add_lanes(float (&sp)[kColLanes][32 * V], const float (&acc)[V],
                                          int64_t width, Out&& out) {
  const int tx = threadIdx.x, ty = threadIdx.y;
#pragma unroll
  for (int k = 0; k < V; ++k) sp[ty][tx * V + k] = acc[k];
  __syncthreads();
  for (int o = ty * 32 + tx; o < 32 * V; o += 32 * kColLanes) {
    const int64_t c = int64_t(blockIdx.x) * 32 * V + o;
    if (c >= width) continue;
    float t = 0.0f;
#pragma unroll
    for (int y = 0; y < kColLanes; ++y) t += sp[y][o];
    out(c, t);
  }
}

template <int V, bool kGelu>
__global__ void __launch_bounds__(32 * kColLanes)
    column_sums_kernel(const bf16* pre, const bf16* dy, bf16* dx, int64_t rows, int64_t width,
                       int64_t rows_per_chunk, float* part, unsigned* done, float* db, float* db2) {
  constexpr int kTile = 32 * V;
  __shared__ float sp[kColLanes][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c0 = int64_t(blockIdx.x) * kTile + int64_t(tx) * V;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float acc[V];
#pragma unroll
  for (int k = 0; k < V; ++k) acc[k] = 0.0f;
  if (c0 < width) {  // width % V == 0 here
    // kRowsInFlight rows' loads issued before their math: the loop is memory-bound.
    constexpr int kRowsInFlight = 4;
    for (int64_t rb = r0 + ty; rb < r1; rb += kRowsInFlight * kColLanes) {
      if constexpr (V == 8) {
        Pack8 x[kRowsInFlight], g[kRowsInFlight];
#pragma unroll
        for (int u = 0; u < kRowsInFlight; ++u) {
          const int64_t r = rb + u * kColLanes;
          if (r < r1) {
            if constexpr (kGelu) x[u].u = *reinterpret_cast<const uint4*>(pre + r * width + c0);
            g[u].u = *reinterpret_cast<const uint4*>(dy + r * width + c0);
          }
        }
#pragma unroll
        for (int u = 0; u < kRowsInFlight; ++u) {
          const int64_t r = rb + u * kColLanes;
          if (r >= r1) break;
#pragma unroll
          for (int k = 0; k < 8; ++k) {
            if constexpr (kGelu)
              g[u].h[k] = __float2bfloat16_rn(__bfloat162float(g[u].h[k]) *
                                              gelu_grad_f(__bfloat162float(x[u].h[k])));
            acc[k] += __bfloat162float(g[u].h[k]);
          }
          if constexpr (kGelu) *reinterpret_cast<uint4*>(dx + r * width + c0) = g[u].u;
        }
      } else {
        for (int u = 0; u < kRowsInFlight; ++u) {
          const int64_t r = rb + u * kColLanes;
          if (r >= r1) break;
          const int64_t i = r * width + c0;
          if constexpr (kGelu) {
            const bf16 d = __float2bfloat16_rn(__bfloat162float(dy[i]) *
                                               gelu_grad_f(__bfloat162float(pre[i])));
            dx[i] = d;
            acc[0] += __bfloat162float(d);
          } else {
            acc[0] += __bfloat162float(dy[i]);
          }
        }
      }
    }
  }
  add_lanes<V>(sp, acc, width, [&](int64_t c, float t) { part[chunk * width + c] = t; });
  // The tile's last block adds its partial rows (the other blocks' writes made visible by the
  // fences around the counter).
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (tx == 0 && ty == 0) last = atomicAdd(&done[blockIdx.x], 1u) == gridDim.y - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  const int64_t chunks = gridDim.y;
#pragma unroll
  for (int k = 0; k < V; ++k) acc[k] = 0.0f;
  if (c0 < width)
    for (int64_t q = ty; q < chunks; q += kColLanes) {
      const float* pr = part + q * width + c0;
      if constexpr (V == 8) {
        const float4 a = __ldcg(reinterpret_cast<const float4*>(pr));
        const float4 b = __ldcg(reinterpret_cast<const float4*>(pr) + 1);
        acc[0] += a.x, acc[1] += a.y, acc[2] += a.z, acc[3] += a.w;
        acc[4] += b.x, acc[5] += b.y, acc[6] += b.z, acc[7] += b.w;
      } else {
        acc[0] += __ldcg(pr);
      }
    }
  add_lanes<V>(sp, acc, width, [&](int64_t c, float t) {
    db[c] += t;
    if (db2) db2[c] += t;
  });
  if (tx == 0 && ty == 0) done[blockIdx.x] = 0;  // ready for the next launch
}

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

// ---- cross_entropy ----
// (max, Σ exp(x − max)) pairs, merged as in an online softmax. An empty pair is (−inf, 0).
struct MaxSum {
  float m, s;
};
__device__ __forceinline__ MaxSum ms_merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};  // both empty (or all −inf): avoid −inf − (−inf)
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}
__device__ __forceinline__ void ms_add(MaxSum& a, float x) {
  if (x > a.m) {
    a.s = a.s * expf(a.m - x) + 1.0f;  // a.m == −inf: expf(−inf) = 0
    a.m = x;
  } else if (a.m != -INFINITY) {
    a.s += expf(x - a.m);  // NaN x lands here and poisons the sum, as it should
  }
}
// Block-wide merge (fixed tree: deterministic). `sm`/`ss`: 32 floats of shared memory each.
__device__ __forceinline__ MaxSum block_max_sum(MaxSum v, float* sm, float* ss) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = ms_merge(v, {__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)});
  __syncthreads();
  if (lane == 0) {
    sm[warp] = v.m;
    ss[warp] = v.s;
  }
  __syncthreads();
  MaxSum r = lane < nwarps ? MaxSum{sm[lane], ss[lane]} : MaxSum{-INFINITY, 0.0f};
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    r = ms_merge(r, {__shfl_xor_sync(0xffffffffu, r.m, o), __shfl_xor_sync(0xffffffffu, r.s, o)});
  return r;
}

constexpr int kCeThreads = 512;
// One block per row. Pass 1: online max / sum of exponentials over the row (f32); pass 2 (when
// dlogits is wanted): dlogits = c · (exp(x − max) / sum − onehot), c = scale · w.
// loss = w · ((max − x_t) + log(sum)) — the same value as w · (lse − x_t) but without forming
// lse = max + log(sum) first, which would lose the low bits of a small loss.
// kVec: V % 4 == 0 and logits 16-byte aligned (and dlogits, if any, 8-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(kCeThreads)
    cross_entropy_kernel(const float* logits, int64_t V, const int32_t* targets,
                         const float* weights, float scale, float* loss, bf16* dlogits) {
  __shared__ float sm[32], ss[32];
  const int64_t row = blockIdx.x;
  const float* l = logits + row * V;
  bf16* d = dlogits ? dlogits + row * V : nullptr;
  const float w = weights[row];
  if (w == 0.0f) {  // masked row: loss 0, zero gradient
    if (threadIdx.x == 0) loss[row] = 0.0f;
    if (d)
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x) d[j] = __float2bfloat16_rn(0.0f);
    return;  // uniform across the block: no barrier is skipped by only some threads
  }
  const int32_t t = targets[row];
  const bool t_ok = t >= 0 && int64_t(t) < V;  // checked on the host; never read out of range

  MaxSum acc{-INFINITY, 0.0f};
  if constexpr (kVec) {
    const float4* l4 = reinterpret_cast<const float4*>(l);
    const int64_t V4 = V / 4;
    for (int64_t j = threadIdx.x; j < V4; j += blockDim.x) {
      const float4 x = l4[j];
      ms_add(acc, x.x);
      ms_add(acc, x.y);
      ms_add(acc, x.z);
      ms_add(acc, x.w);
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) ms_add(acc, l[j]);
  }
  const MaxSum tot = block_max_sum(acc, sm, ss);
  const float mx = tot.m, sum = tot.s;
  if (threadIdx.x == 0)
    loss[row] = t_ok ? w * ((mx - l[t]) + logf(sum)) : __int_as_float(0x7fffffff);  // NaN
  if (!d) return;
  const float c = scale * w;
  const float inv_sum = 1.0f / sum;
  if constexpr (kVec) {
    const float4* l4 = reinterpret_cast<const float4*>(l);
    uint2* d4 = reinterpret_cast<uint2*>(d);
    const int64_t V4 = V / 4;
    for (int64_t j = threadIdx.x; j < V4; j += blockDim.x) {
      const float4 x = l4[j];
      const float xs[4] = {x.x, x.y, x.z, x.w};
      Pack4 o;
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float p = expf(xs[u] - mx) * inv_sum;
        o.h[u] = __float2bfloat16_rn(c * (4 * j + u == t ? p - 1.0f : p));
      }
      d4[j] = o.u;
    }
  } else {
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
      const float p = expf(l[j] - mx) * inv_sum;
      d[j] = __float2bfloat16_rn(c * (j == t ? p - 1.0f : p));
    }
  }
}

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

// ---- adamw ----
// torch.optim.AdamW's single-tensor f32 sequence (train/optimizer.cpp), every operation rounded
// on its own: the explicit-rounding intrinsics keep nvcc from contracting a·b + c into one FMA
// (which would change the rounding), and __fdiv_rn/__fsqrt_rn are IEEE-exact whatever the
// -prec-div/-prec-sqrt flags.
//   p *= decay
//   m = m + (1 − β1)·(g − m)                      (torch.lerp, weight < 0.5)
//   v = v·β2 + ((1 − β2)·g)·g                     (mul_ then addcmul_)
//   denom = sqrt(v) / bc2_sqrt + eps
//   p = p − step_size · (m / denom)               (addcdiv_ with value −step_size)
// 1 − β1 and 1 − β2 are formed in double by the caller and rounded to f32 (as torch's scalars).
// One element of the sequence above; returns the updated parameter.
__device__ __forceinline__ float adamw_element(float* p, float gi, float* m, float* v, float decay,
                                               float w_lerp, float b2, float one_minus_b2,
                                               float eps, float step_size, float bc2_sqrt) {
  float pi = __fmul_rn(*p, decay);
  float mi = *m;
  mi = __fadd_rn(mi, __fmul_rn(w_lerp, __fsub_rn(gi, mi)));
  const float vi = __fadd_rn(__fmul_rn(*v, b2), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
  pi = __fsub_rn(pi, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
  *p = pi;
  *m = mi;
  *v = vi;
  return pi;
}

// The sequence over one chunk per block (launch_adamw_tensors), g scaled first (the f32
// product that scale_f32 stores; a scale of 1 leaves g exact).
__global__ void adamw_chunks_kernel(float* p, const float* g, float* m, float* v,
                                    const AdamWChunk* chunks, const AdamWTensorDev* tensors,
                                    float decay, float w_lerp, float b2, float one_minus_b2,
                                    float eps, float step_size, float bc2_sqrt, float grad_scale) {
  const AdamWChunk c = chunks[blockIdx.x];
  const AdamWTensorDev t = tensors[c.tensor];
  const float dec = t.decayed ? decay : 1.0f;
  for (int j = threadIdx.x; j < c.n; j += blockDim.x) {
    const int64_t i = c.offset + j;
    const float pi = adamw_element(p + i, __fmul_rn(g[i], grad_scale), m + i, v + i, dec, w_lerp,
                                   b2, one_minus_b2, eps, step_size, bc2_sqrt);
    if (t.compute_kind == 1)
      static_cast<bf16*>(t.compute)[c.within + j] = __float2bfloat16_rn(pi);
    else if (t.compute_kind == 2)
      static_cast<float*>(t.compute)[c.within + j] = pi;
  }
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

// Workspace: the per-tile counters (zero between launches: the caller zeroes a new workspace,
// each launch's last blocks reset theirs), then the partial rows [chunks, width].
size_t column_counters_bytes(int64_t width) {
  return size_t((width + 31) / 32 * sizeof(unsigned) + 255) / 256 * 256;
}

size_t column_sums_workspace(int64_t rows, int64_t width) {
  if (rows <= 0 || width <= 0) return 0;
  return column_counters_bytes(width) +
         size_t(col_chunks(rows).chunks) * size_t(width) * sizeof(float);
}

namespace {
template <bool kGelu>
void launch_columns(const char* what, const bf16* pre, const bf16* dy, bf16* dx, int64_t rows,
                    int64_t width, float* db, float* db2, void* workspace, cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return;
  RCC_CHECK(workspace != nullptr && db != nullptr, what, ": no workspace or no output");
  const ColChunks cc = col_chunks(rows);
  unsigned* done = static_cast<unsigned*>(workspace);
  float* part = reinterpret_cast<float*>(static_cast<unsigned char*>(workspace) +
                                         column_counters_bytes(width));
  const dim3 block(32, kColLanes);
  const bool vec =
      width % 8 == 0 && aligned(dy, 16) && (!kGelu || (aligned(pre, 16) && aligned(dx, 16)));
  const int64_t tiles = vec ? (width + 255) / 256 : (width + 31) / 32;
  RCC_CHECK(tiles < (int64_t(1) << 31), what, ": width too large");
  const dim3 grid(unsigned(tiles), unsigned(cc.chunks));
  if (vec)
    column_sums_kernel<8, kGelu><<<grid, block, 0, stream>>>(
        pre, dy, dx, rows, width, cc.rows_per_chunk, part, done, db, db2);
  else
    column_sums_kernel<1, kGelu><<<grid, block, 0, stream>>>(
        pre, dy, dx, rows, width, cc.rows_per_chunk, part, done, db, db2);
  RCC_CUDA_LAUNCH_CHECK();
}
}  // namespace

void launch_gelu_backward_bias(const bf16* pre, const bf16* dy, bf16* dx, int64_t rows,
                               int64_t width, float* db, void* partials, cudaStream_t stream) {
  launch_columns<true>("CUDA gelu_backward_bias", pre, dy, dx, rows, width, db, nullptr, partials,
                       stream);
}

void launch_column_sums(const bf16* dy, int64_t rows, int64_t width, float* db, float* db2,
                        void* partials, cudaStream_t stream) {
  launch_columns<false>("CUDA column_sums", nullptr, dy, nullptr, rows, width, db, db2, partials,
                        stream);
}

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

void launch_cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                          const float* weights, float scale, float* loss, bf16* dlogits,
                          cudaStream_t stream) {
  if (rows <= 0) return;
  RCC_CHECK(V > 0, "CUDA cross_entropy: empty vocabulary");
  RCC_CHECK(rows < kMaxRows, "CUDA cross_entropy: too many rows (", rows, ")");
  const bool vec = V % 4 == 0 && aligned(logits, 16) && (!dlogits || aligned(dlogits, 8));
  if (vec)
    cross_entropy_kernel<true><<<unsigned(rows), kCeThreads, 0, stream>>>(
        logits, V, targets, weights, scale, loss, dlogits);
  else
    cross_entropy_kernel<false><<<unsigned(rows), kCeThreads, 0, stream>>>(
        logits, V, targets, weights, scale, loss, dlogits);
  RCC_CUDA_LAUNCH_CHECK();
}

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

void launch_adamw_tensors(float* p, const float* g, float* m, float* v, const AdamWChunk* chunks,
                          int64_t n_chunks, const AdamWTensorDev* tensors, float decay,
                          float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                          float step_size, float bc2_sqrt, float grad_scale, cudaStream_t stream) {
  if (n_chunks <= 0) return;
  RCC_CHECK(n_chunks < (int64_t(1) << 31), "CUDA adamw: ", n_chunks, " chunks");
  adamw_chunks_kernel<<<unsigned(n_chunks), kThreads, 0, stream>>>(
      p, g, m, v, chunks, tensors, decay, one_minus_beta1, beta2, one_minus_beta2, eps, step_size,
      bc2_sqrt, grad_scale);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
