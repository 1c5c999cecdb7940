// Bias gradients as column sums of a [rows, width] bf16 matrix (launch_column_sums), and GELU's
// backward with the column sums of its output taken while it is written (launch_gelu_backward_bias:
// the bias gradient of the product that made GELU's input); train_kernels.h has the contracts.
// One launch each, f32 sums added in a fixed order: bit-identical run to run, and the grid depends
// only on the sizes, never on the device.
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

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

}  // namespace

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

}  // namespace rcc::cuda
