// Backward of launch_layer_norm (cuda_norm.cu). Three kernels, all deterministic (no atomics; every
// sum has a fixed order that depends only on rows and H, never on the device):
//   1. rows kernel, one warp per row: mean and 1/std recomputed from x in f32 (two passes, biased
//      variance, 1/sqrtf(var + eps), as the forward), stored in the workspace; when dx is given,
//      dx += (g − mean(g) − x̂ · mean(g · x̂)) · rstd with g = w · dy (f32 warp sums);
//   2. column-partials kernel: block (32 column groups, kLnbRowLanes row lanes) over a chunk of
//      kLnbChunkRows rows; lane y sums rows y, y + kLnbRowLanes, ... of its columns, the lanes are
//      added in order through shared memory, and the chunk's Σ dy·x̂ and Σ dy go to the
//      workspace [chunks, H];
//   3. column reduction of the chunk partials (fixed order, see the kernel): dw += , db +=.
// Workspace: mean [rows] | rstd [rows] | dw partials [chunks, H] | db partials [chunks, H] (f32).
#include <algorithm>
#include <type_traits>

#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int64_t kLnbChunkRows = 64;     // rows per column-partials block
constexpr int kLnbRowLanes = 8;           // thread rows of a column-partials block
constexpr int64_t kLnbMaxChunks = 65535;  // gridDim.y limit of the column-partials kernel

struct LnbLayout {
  int64_t rows_per_chunk, chunks;
  size_t mean_off, rstd_off, dw_off, db_off, bytes;
};

size_t align256(size_t b) {
  return (b + 255) / 256 * 256;
}

LnbLayout lnb_layout(int64_t rows, int64_t H) {
  LnbLayout l{};
  // Chunks of kLnbChunkRows rows, or larger ones when that would exceed the grid limit.
  l.chunks = (rows + kLnbChunkRows - 1) / kLnbChunkRows;
  l.rows_per_chunk = kLnbChunkRows;
  if (l.chunks > kLnbMaxChunks) {
    l.rows_per_chunk = (rows + kLnbMaxChunks - 1) / kLnbMaxChunks;
    l.chunks = (rows + l.rows_per_chunk - 1) / l.rows_per_chunk;
  }
  l.mean_off = 0;
  l.rstd_off = align256(size_t(rows) * sizeof(float));
  l.dw_off = l.rstd_off + align256(size_t(rows) * sizeof(float));
  l.db_off = l.dw_off + align256(size_t(l.chunks) * size_t(H) * sizeof(float));
  l.bytes = l.db_off + align256(size_t(l.chunks) * size_t(H) * sizeof(float));
  return l;
}

bool aligned(const void* p, uintptr_t a) {
  return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0;
}

// V consecutive bf16 (V = 1, 4 or 8: one 2-, 8- or 16-byte load) or f32 (V = 1, 4 or 8) as f32.
template <int V>
__device__ __forceinline__ void load_v(const bf16* p, float (&f)[V]) {
  if constexpr (V == 1) {
    f[0] = __bfloat162float(*p);
  } else {
    union {
      typename std::conditional<V == 8, uint4, uint2>::type u;
      bf16 h[V];
    } pk;
    pk.u = *reinterpret_cast<const decltype(pk.u)*>(p);
#pragma unroll
    for (int k = 0; k < V; ++k) f[k] = __bfloat162float(pk.h[k]);
  }
}
template <int V>
__device__ __forceinline__ void load_v(const float* p, float (&f)[V]) {
  if constexpr (V == 1) {
    f[0] = *p;
  } else {
#pragma unroll
    for (int k = 0; k < V; k += 4) {
      const float4 q = *reinterpret_cast<const float4*>(p + k);
      f[k] = q.x;
      f[k + 1] = q.y;
      f[k + 2] = q.z;
      f[k + 3] = q.w;
    }
  }
}
template <int V>
__device__ __forceinline__ void store_v(bf16* p, const float (&f)[V]) {
  if constexpr (V == 1) {
    *p = __float2bfloat16_rn(f[0]);
  } else {
    union {
      typename std::conditional<V == 8, uint4, uint2>::type u;
      bf16 h[V];
    } pk;
#pragma unroll
    for (int k = 0; k < V; ++k) pk.h[k] = __float2bfloat16_rn(f[k]);
    *reinterpret_cast<decltype(pk.u)*>(p) = pk.u;
  }
}

// Kernel 1: one warp per row (kLnbRowsPerBlock rows per block, no block barriers); lane l takes
// the V-element groups l, l + 32, ... of the row, each pass re-reading the row (L1-resident).
// Mean and (biased) variance in two passes as the forward does; V = 8 when H % 8 == 0 and the
// pointers are 16-byte aligned, else 1.
constexpr int kLnbRowsPerBlock = 8;
template <int V>
__global__ void __launch_bounds__(32 * kLnbRowsPerBlock)
    layer_norm_backward_rows_kernel(const bf16* x, int64_t rows, int64_t H, const float* w,
                                    float eps, const bf16* dy, bf16* dx, float* mean_out,
                                    float* rstd_out) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kLnbRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp: only warp-level collectives below
  const int64_t HV = H / V;
  const bf16* xr = x + row * H;
  float s = 0.0f;
  for (int64_t j = lane; j < HV; j += 32) {
    float f[V];
    load_v<V>(xr + j * V, f);
#pragma unroll
    for (int k = 0; k < V; ++k) s += f[k];
  }
  const float mean = warp_sum(s) / float(H);
  float q = 0.0f;
  for (int64_t j = lane; j < HV; j += 32) {
    float f[V];
    load_v<V>(xr + j * V, f);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float d = f[k] - mean;
      q += d * d;
    }
  }
  const float var = warp_sum(q) / float(H);
  const float inv = 1.0f / sqrtf(var + eps);
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = inv;
  }
  if (!dx) return;

  const bf16* gr = dy + row * H;
  bf16* dr = dx + row * H;
  float gs = 0.0f, gxs = 0.0f;
  for (int64_t j = lane; j < HV; j += 32) {
    float xf[V], gf[V], wf[V];
    load_v<V>(xr + j * V, xf);
    load_v<V>(gr + j * V, gf);
    load_v<V>(w + j * V, wf);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float g = gf[k] * wf[k];
      gs += g;
      gxs += g * ((xf[k] - mean) * inv);
    }
  }
  const float g_mean = warp_sum(gs) / float(H);
  const float gx_mean = warp_sum(gxs) / float(H);
  for (int64_t j = lane; j < HV; j += 32) {
    float xf[V], gf[V], wf[V], df[V];
    load_v<V>(xr + j * V, xf);
    load_v<V>(gr + j * V, gf);
    load_v<V>(w + j * V, wf);
    load_v<V>(dr + j * V, df);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float xhat = (xf[k] - mean) * inv;
      df[k] += inv * (gf[k] * wf[k] - g_mean - xhat * gx_mean);
    }
    store_v<V>(dr + j * V, df);
  }
}

// Kernel 2: grid (column tiles of 32·V, chunks); block (32, kLnbRowLanes); thread x owns the V
// columns x·V .. x·V + V − 1 of the tile (V = 4: one 8-byte load per row; V = 1: scalar).
template <int V>
__global__ void __launch_bounds__(32 * kLnbRowLanes)
    layer_norm_backward_cols_kernel(const bf16* x, int64_t rows, int64_t H, const bf16* dy,
                                    const float* mean, const float* rstd, int64_t rows_per_chunk,
                                    float* dw_part, float* db_part) {
  constexpr int kTile = 32 * V;
  __shared__ float sw[kLnbRowLanes][kTile], sb[kLnbRowLanes][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c0 = int64_t(blockIdx.x) * kTile + int64_t(tx) * V;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float aw[V], ab[V];
#pragma unroll
  for (int k = 0; k < V; ++k) aw[k] = ab[k] = 0.0f;
  if (c0 < H) {  // H % V == 0 here, so the whole group is inside the row
#pragma unroll 4
    for (int64_t r = r0 + ty; r < r1; r += kLnbRowLanes) {
      float gf[V], xf[V];
      load_v<V>(dy + r * H + c0, gf);
      load_v<V>(x + r * H + c0, xf);
      const float m = mean[r], rs = rstd[r];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        aw[k] += gf[k] * ((xf[k] - m) * rs);
        ab[k] += gf[k];
      }
    }
  }
#pragma unroll
  for (int k = 0; k < V; ++k) {
    sw[ty][tx * V + k] = aw[k];
    sb[ty][tx * V + k] = ab[k];
  }
  __syncthreads();
  // 2·kTile sums of kLnbRowLanes lane partials each, in lane order, spread over the block.
  for (int o = ty * 32 + tx; o < 2 * kTile; o += 32 * kLnbRowLanes) {
    const bool is_b = o >= kTile;
    const int col = is_b ? o - kTile : o;
    const int64_t c = int64_t(blockIdx.x) * kTile + col;
    if (c >= H) continue;
    float t = 0.0f;
#pragma unroll
    for (int y = 0; y < kLnbRowLanes; ++y) t += is_b ? sb[y][col] : sw[y][col];
    (is_b ? db_part : dw_part)[chunk * H + c] = t;
  }
}

// Kernel 3: grid (column tiles of 32); block (32, kLnbRedLanes): lane y adds chunks y,
// y + kLnbRedLanes, ... of its column in order, then the lanes are added in order.
constexpr int kLnbRedLanes = 32;
__global__ void __launch_bounds__(32 * kLnbRedLanes)
    layer_norm_backward_reduce_kernel(const float* dw_part, const float* db_part, int64_t chunks,
                                      int64_t H, float* dw, float* db) {
  __shared__ float sw[kLnbRedLanes][33], sb[kLnbRedLanes][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  float aw = 0.0f, ab = 0.0f;
  if (c < H) {
    for (int64_t k = ty; k < chunks; k += kLnbRedLanes) {
      aw += dw_part[k * H + c];
      ab += db_part[k * H + c];
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && c < H) {
    float s = 0.0f, t = 0.0f;
    for (int y = 0; y < kLnbRedLanes; ++y) {
      s += sw[y][tx];
      t += sb[y][tx];
    }
    if (dw) dw[c] += s;
    if (db) db[c] += t;
  }
}

}  // namespace

size_t layer_norm_backward_workspace(int64_t rows, int64_t H) {
  if (rows <= 0 || H <= 0) return 0;
  return lnb_layout(rows, H).bytes;
}

void launch_layer_norm_backward(const bf16* x, int64_t rows, int64_t H, const float* w, float eps,
                                const bf16* dy, bf16* dx, float* dw, float* db, void* partials,
                                cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA layer_norm_backward: too many rows (", rows, ")");
  RCC_CHECK(partials != nullptr, "CUDA layer_norm_backward: no workspace");
  const LnbLayout l = lnb_layout(rows, H);
  char* ws = static_cast<char*>(partials);
  float* mean = reinterpret_cast<float*>(ws + l.mean_off);
  float* rstd = reinterpret_cast<float*>(ws + l.rstd_off);
  const bool vec_rows =
      H % 8 == 0 && aligned(x, 16) && aligned(dy, 16) && aligned(w, 16) && (!dx || aligned(dx, 16));
  const unsigned row_blocks = unsigned((rows + kLnbRowsPerBlock - 1) / kLnbRowsPerBlock);
  if (vec_rows)
    layer_norm_backward_rows_kernel<8>
        <<<row_blocks, 32 * kLnbRowsPerBlock, 0, stream>>>(x, rows, H, w, eps, dy, dx, mean, rstd);
  else
    layer_norm_backward_rows_kernel<1>
        <<<row_blocks, 32 * kLnbRowsPerBlock, 0, stream>>>(x, rows, H, w, eps, dy, dx, mean, rstd);
  RCC_CUDA_LAUNCH_CHECK();
  if (!dw && !db) return;
  float* dw_part = reinterpret_cast<float*>(ws + l.dw_off);
  float* db_part = reinterpret_cast<float*>(ws + l.db_off);
  if (H % 4 == 0 && aligned(x, 8) && aligned(dy, 8)) {
    const int64_t tiles4 = (H + 127) / 128;
    RCC_CHECK(tiles4 < (int64_t(1) << 31), "CUDA layer_norm_backward: H too large (", H, ")");
    layer_norm_backward_cols_kernel<4>
        <<<dim3(unsigned(tiles4), unsigned(l.chunks)), dim3(32, kLnbRowLanes), 0, stream>>>(
            x, rows, H, dy, mean, rstd, l.rows_per_chunk, dw_part, db_part);
  } else {
    const int64_t tiles1 = (H + 31) / 32;
    RCC_CHECK(tiles1 < (int64_t(1) << 31), "CUDA layer_norm_backward: H too large (", H, ")");
    layer_norm_backward_cols_kernel<1>
        <<<dim3(unsigned(tiles1), unsigned(l.chunks)), dim3(32, kLnbRowLanes), 0, stream>>>(
            x, rows, H, dy, mean, rstd, l.rows_per_chunk, dw_part, db_part);
  }
  RCC_CUDA_LAUNCH_CHECK();
  const int64_t tiles = (H + 31) / 32;
  layer_norm_backward_reduce_kernel<<<unsigned(tiles), dim3(32, kLnbRedLanes), 0, stream>>>(
      dw_part, db_part, l.chunks, H, dw, db);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
