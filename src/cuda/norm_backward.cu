// Backward of launch_layer_norm (norm.cu), of one norm or of the parallel-residual pair (two
// norms of the same x: the statistics and x read once, both terms added to dx in one pass). Three
// kernels, all deterministic (no atomics; every sum has a fixed order that depends only on rows
// and H, never on the device):
//   1. rows kernel, one warp per row: mean and 1/std recomputed from x in f32 (two passes, biased
//      variance, 1/sqrtf(var + eps), as the forward), stored in the workspace; when dx is given,
//      dx += Σ_n (g_n − mean(g_n) − x̂ · mean(g_n · x̂)) · rstd with g_n = w_n · dy_n (f32 warp
//      sums; the terms in the order n = 0, 1, rounded to bf16 once);
//   2. column-partials kernel: block (32 column groups, kLnbRowLanes row lanes) over a chunk of
//      kLnbChunkRows rows; lane y sums rows y, y + kLnbRowLanes, ... of its columns, the lanes are
//      added in order through shared memory, and the chunk's Σ dy_n·x̂ and Σ dy_n go to the
//      workspace [chunks, H] of norm n;
//   3. column reduction of the chunk partials (fixed order, see the kernel): dw_n += , db_n += .
// Workspace: mean [rows] | rstd [rows] | per norm: dw partials [chunks, H] | db partials (f32).
#include <algorithm>

#include "cuda/norm_stats.cuh"
#include "cuda/train_kernels.h"

namespace rcc::cuda {
namespace {

constexpr int64_t kLnbChunkRows = 64;     // rows per column-partials block
constexpr int kLnbRowLanes = 8;           // thread rows of a column-partials block
constexpr int64_t kLnbMaxChunks = 65535;  // gridDim.y limit of the column-partials kernel

constexpr int kMaxNorms = 2;

struct LnbLayout {
  int64_t rows_per_chunk, chunks;
  size_t mean_off, rstd_off, dw_off[kMaxNorms], db_off[kMaxNorms], bytes;
};

size_t align256(size_t b) {
  return (b + 255) / 256 * 256;
}

LnbLayout lnb_layout(int64_t rows, int64_t H, int norms) {
  LnbLayout l{};
  // Chunks of kLnbChunkRows rows, or larger ones when that would exceed the grid limit.
  l.chunks = (rows + kLnbChunkRows - 1) / kLnbChunkRows;
  l.rows_per_chunk = kLnbChunkRows;
  if (l.chunks > kLnbMaxChunks) {
    l.rows_per_chunk = (rows + kLnbMaxChunks - 1) / kLnbMaxChunks;
    l.chunks = (rows + l.rows_per_chunk - 1) / l.rows_per_chunk;
  }
  const size_t part = align256(size_t(l.chunks) * size_t(H) * sizeof(float));
  l.mean_off = 0;
  l.rstd_off = align256(size_t(rows) * sizeof(float));
  size_t off = l.rstd_off + align256(size_t(rows) * sizeof(float));
  for (int n = 0; n < norms; ++n) {
    l.dw_off[n] = off;
    l.db_off[n] = off + part;
    off += 2 * part;
  }
  l.bytes = off;
  return l;
}

// The norms of one backward: norm n has weight w[n], output gradient dy[n], and gradient sums
// dw[n], db[n] (db[n] may be null).
template <int N>
struct Norms {
  const float* w[N];
  const bf16* dy[N];
  float* dw[N];
  float* db[N];
};

// Kernel 1: one warp per row (kLnbRowsPerBlock rows per block, no block barriers); lane l takes
// the V-element groups l, l + 32, ... of the row, each pass re-reading the row (L1-resident).
// Mean and (biased) variance in two passes as the forward does; V = 8 when H % 8 == 0 and the
// pointers are 16-byte aligned, else 1.
constexpr int kLnbRowsPerBlock = 8;
template <int V, int N>
__global__ void __launch_bounds__(32 * kLnbRowsPerBlock)
    layer_norm_backward_rows_kernel(const bf16* x, int64_t rows, int64_t H, Norms<N> nm, float eps,
                                    bf16* dx, float* mean_out, float* rstd_out) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kLnbRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // the whole warp: only warp-level collectives below
  const int64_t HV = H / V;
  const bf16* xr = x + row * H;
  float mean, inv;
  row_stats<V>(xr, H, eps, lane, mean, inv);
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = inv;
  }
  if (!dx) return;

  float g_mean[N], gx_mean[N];
#pragma unroll
  for (int n = 0; n < N; ++n) {
    const bf16* gr = nm.dy[n] + row * H;
    float gs = 0.0f, gxs = 0.0f;
    for (int64_t j = lane; j < HV; j += 32) {
      float xf[V], gf[V], wf[V];
      load_v<V>(xr + j * V, xf);
      load_v<V>(gr + j * V, gf);
      load_v<V>(nm.w[n] + j * V, wf);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float g = gf[k] * wf[k];
        gs += g;
        gxs += g * ((xf[k] - mean) * inv);
      }
    }
    g_mean[n] = warp_sum(gs) / float(H);
    gx_mean[n] = warp_sum(gxs) / float(H);
  }
  bf16* dr = dx + row * H;
  for (int64_t j = lane; j < HV; j += 32) {
    float xf[V], df[V];
    load_v<V>(xr + j * V, xf);
    load_v<V>(dr + j * V, df);
#pragma unroll
    for (int n = 0; n < N; ++n) {
      float gf[V], wf[V];
      load_v<V>(nm.dy[n] + row * H + j * V, gf);
      load_v<V>(nm.w[n] + j * V, wf);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float xhat = (xf[k] - mean) * inv;
        df[k] += inv * (gf[k] * wf[k] - g_mean[n] - xhat * gx_mean[n]);
      }
    }
    store_v<V>(dr + j * V, df);
  }
}

// Kernel 2: grid (column tiles of 32·V, chunks); block (32, kLnbRowLanes); thread x owns the V
// columns x·V .. x·V + V − 1 of the tile (V = 4: one 8-byte load per row; V = 1: scalar).
// Partials of norm n: part[2n] (Σ dy·x̂) and part[2n + 1] (Σ dy), [chunks, H] each.
template <int N>
struct Partials {
  float* p[2 * N];
};
template <int V, int N>
__global__ void __launch_bounds__(32 * kLnbRowLanes)
    layer_norm_backward_cols_kernel(const bf16* x, int64_t rows, int64_t H, Norms<N> nm,
                                    const float* mean, const float* rstd, int64_t rows_per_chunk,
                                    Partials<N> part) {
  constexpr int kTile = 32 * V;
  __shared__ float sp[2 * N][kLnbRowLanes][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c0 = int64_t(blockIdx.x) * kTile + int64_t(tx) * V;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float acc[2 * N][V];
#pragma unroll
  for (int i = 0; i < 2 * N; ++i)
#pragma unroll
    for (int k = 0; k < V; ++k) acc[i][k] = 0.0f;
  if (c0 < H) {  // H % V == 0 here, so the whole group is inside the row
#pragma unroll 4
    for (int64_t r = r0 + ty; r < r1; r += kLnbRowLanes) {
      float xf[V];
      load_v<V>(x + r * H + c0, xf);
      const float m = mean[r], rs = rstd[r];
#pragma unroll
      for (int n = 0; n < N; ++n) {
        float gf[V];
        load_v<V>(nm.dy[n] + r * H + c0, gf);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          acc[2 * n][k] += gf[k] * ((xf[k] - m) * rs);
          acc[2 * n + 1][k] += gf[k];
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 2 * N; ++i)
#pragma unroll
    for (int k = 0; k < V; ++k) sp[i][ty][tx * V + k] = acc[i][k];
  __syncthreads();
  // 2N·kTile sums of kLnbRowLanes lane partials each, in lane order, spread over the block.
  for (int o = ty * 32 + tx; o < 2 * N * kTile; o += 32 * kLnbRowLanes) {
    const int i = o / kTile, col = o % kTile;
    const int64_t c = int64_t(blockIdx.x) * kTile + col;
    if (c >= H) continue;
    float t = 0.0f;
#pragma unroll
    for (int y = 0; y < kLnbRowLanes; ++y) t += sp[i][y][col];
    part.p[i][chunk * H + c] = t;
  }
}

// Kernel 3: grid (column tiles of 32, 2N sums); block (32, kLnbRedLanes): lane y adds chunks y,
// y + kLnbRedLanes, ... of its column in order, then the lanes are added in order.
constexpr int kLnbRedLanes = 32;
template <int N>
__global__ void __launch_bounds__(32 * kLnbRedLanes)
    layer_norm_backward_reduce_kernel(Partials<N> part, int64_t chunks, int64_t H, Norms<N> nm) {
  __shared__ float sp[kLnbRedLanes][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int i = blockIdx.y;  // sum 2n: dw of norm n; 2n + 1: its db
  float* out = i % 2 == 0 ? nm.dw[i / 2] : nm.db[i / 2];
  if (!out) return;  // the whole block
  const float* p = part.p[i];
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  float a = 0.0f;
  if (c < H)
    for (int64_t k = ty; k < chunks; k += kLnbRedLanes) a += p[k * H + c];
  sp[ty][tx] = a;
  __syncthreads();
  if (ty == 0 && c < H) {
    float s = 0.0f;
    for (int y = 0; y < kLnbRedLanes; ++y) s += sp[y][tx];
    out[c] += s;
  }
}

template <int N>
void launch_norms(const bf16* x, int64_t rows, int64_t H, const Norms<N>& nm, float eps, bf16* dx,
                  void* partials, cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA layer_norm_backward: too many rows (", rows, ")");
  RCC_CHECK(partials != nullptr, "CUDA layer_norm_backward: no workspace");
  const LnbLayout l = lnb_layout(rows, H, N);
  char* ws = static_cast<char*>(partials);
  float* mean = reinterpret_cast<float*>(ws + l.mean_off);
  float* rstd = reinterpret_cast<float*>(ws + l.rstd_off);
  bool vec_rows = H % 8 == 0 && aligned(x, 16) && (!dx || aligned(dx, 16));
  for (int n = 0; n < N; ++n) vec_rows = vec_rows && aligned(nm.dy[n], 16) && aligned(nm.w[n], 16);
  const unsigned row_blocks = unsigned((rows + kLnbRowsPerBlock - 1) / kLnbRowsPerBlock);
  if (vec_rows)
    layer_norm_backward_rows_kernel<8, N>
        <<<row_blocks, 32 * kLnbRowsPerBlock, 0, stream>>>(x, rows, H, nm, eps, dx, mean, rstd);
  else
    layer_norm_backward_rows_kernel<1, N>
        <<<row_blocks, 32 * kLnbRowsPerBlock, 0, stream>>>(x, rows, H, nm, eps, dx, mean, rstd);
  RCC_CUDA_LAUNCH_CHECK();
  bool any = false;
  for (int n = 0; n < N; ++n) any = any || nm.dw[n] || nm.db[n];
  if (!any) return;
  Partials<N> part;
  for (int n = 0; n < N; ++n) {
    part.p[2 * n] = reinterpret_cast<float*>(ws + l.dw_off[n]);
    part.p[2 * n + 1] = reinterpret_cast<float*>(ws + l.db_off[n]);
  }
  bool vec_cols = H % 4 == 0 && aligned(x, 8);
  for (int n = 0; n < N; ++n) vec_cols = vec_cols && aligned(nm.dy[n], 8);
  const int64_t tiles_c = vec_cols ? (H + 127) / 128 : (H + 31) / 32;
  RCC_CHECK(tiles_c < (int64_t(1) << 31), "CUDA layer_norm_backward: H too large (", H, ")");
  const dim3 grid_c(unsigned(tiles_c), unsigned(l.chunks)), block_c(32, kLnbRowLanes);
  if (vec_cols)
    layer_norm_backward_cols_kernel<4, N>
        <<<grid_c, block_c, 0, stream>>>(x, rows, H, nm, mean, rstd, l.rows_per_chunk, part);
  else
    layer_norm_backward_cols_kernel<1, N>
        <<<grid_c, block_c, 0, stream>>>(x, rows, H, nm, mean, rstd, l.rows_per_chunk, part);
  RCC_CUDA_LAUNCH_CHECK();
  const int64_t tiles = (H + 31) / 32;
  layer_norm_backward_reduce_kernel<N>
      <<<dim3(unsigned(tiles), 2 * N), dim3(32, kLnbRedLanes), 0, stream>>>(part, l.chunks, H, nm);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace

size_t layer_norm_backward_workspace(int64_t rows, int64_t H, int norms) {
  if (rows <= 0 || H <= 0) return 0;
  RCC_CHECK(norms >= 1 && norms <= kMaxNorms, "CUDA layer_norm_backward: ", norms, " norms");
  return lnb_layout(rows, H, norms).bytes;
}

void launch_layer_norm_backward(const bf16* x, int64_t rows, int64_t H, const float* w, float eps,
                                const bf16* dy, bf16* dx, float* dw, float* db, void* partials,
                                cudaStream_t stream) {
  const Norms<1> nm{{w}, {dy}, {dw}, {db}};
  launch_norms<1>(x, rows, H, nm, eps, dx, partials, stream);
}

void launch_layer_norm_pair_backward(const bf16* x, int64_t rows, int64_t H, const float* w1,
                                     const float* w2, float eps, const bf16* dy1, const bf16* dy2,
                                     bf16* dx, float* dw1, float* db1, float* dw2, float* db2,
                                     void* partials, cudaStream_t stream) {
  // The ln2 term first, as layer_norm_pair_backward's composition adds them.
  const Norms<2> nm{{w2, w1}, {dy2, dy1}, {dw2, dw1}, {db2, db1}};
  launch_norms<2>(x, rows, H, nm, eps, dx, partials, stream);
}

}  // namespace rcc::cuda
