// Host-side launchers of the CUDA backend's kernels (one .cu file per family). Every launcher
// enqueues on `stream` and checks the launch; shapes are row-major, activations bf16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "cuda/common.cuh"

namespace rcc::cuda {

// ---- elementwise.cu ----
// y = GELU(x) (exact erf form, f32 math), n elements; y may be x.
void launch_gelu(const bf16* x, bf16* y, int64_t n, cudaStream_t stream);
// y += x (f32 math, one rounding), n elements.
void launch_add(bf16* y, const bf16* x, int64_t n, cudaStream_t stream);
// y[r, c] += bias[c] for y [rows, N] (row stride N), bias f32 [N].
void launch_add_bias(bf16* y, int64_t rows, int64_t N, const float* bias, cudaStream_t stream);
// dst[i] = bf16(src[i]) (round to nearest even) for src of type F32, F16 or BF16.
void launch_convert_to_bf16(DType src_type, const void* src, bf16* dst, int64_t n,
                            cudaStream_t stream);
// out[i, :] = table[ids[i], :], table [V, H], ids (device) [n].
void launch_embed(const bf16* table, int64_t H, const int32_t* ids, int64_t n, bf16* out,
                  cudaStream_t stream);
// dst[i·dst_stride + c] = src[idx[i]·src_stride + c], c < width; idx (device) [n].
void launch_gather_rows(const bf16* src, int64_t src_stride, const int64_t* idx, int64_t n,
                        int64_t width, bf16* dst, int64_t dst_stride, cudaStream_t stream);

// ---- fp8.cu ----
// x (bf16, n elements) as E4M3 with one scale (spec §2.8): *scale = max|x| / 448 (1 for zeros),
// q = E4M3(x / *scale) (nearest even, saturating). scale and amax_bits (workspace) are device
// scalars; `sms` sizes the grid. Two launches, the second reads the first's maximum.
void launch_quantize_e4m3(const bf16* x, int64_t n, uint8_t* q, float* scale, unsigned* amax_bits,
                          int sms, cudaStream_t stream);

// ---- norm.cu ----
// y = (x - mean) / sqrt(var + eps) · w + b per row of H (biased variance); x and y may alias.
void launch_layer_norm(const bf16* x, int64_t rows, int64_t H, const float* w, const float* b,
                       float eps, bf16* y, cudaStream_t stream);
// Both norms of a parallel-residual layer from one read of x: y1 = LN(x)·w1 + b1, y2 =
// LN(x)·w2 + b2, and x_copy = x unless null. Nothing aliases.
void launch_layer_norm_pair(const bf16* x, int64_t rows, int64_t H, const float* w1,
                            const float* b1, const float* w2, const float* b2, float eps, bf16* y1,
                            bf16* y2, bf16* x_copy, cudaStream_t stream);

// ---- llama_ops.cu ----
// RMSNorm of `per_row` vectors of `width` elements in each of `rows` rows: vector g of row r at
// r·row_stride + g·width of x (and of y; they may alias): y = w · x / sqrt(mean(x²) + eps), w f32
// [width]. Dense rows: per_row 1, width = row_stride = H; Qwen3's head norms: the heads of the
// fused qkv rows.
void launch_rms_norm(const bf16* x, bf16* y, int64_t rows, int per_row, int width,
                     int64_t row_stride, const float* w, float eps, cudaStream_t stream);
// y [rows, I] = silu(gu[:, :I]) · gu[:, I:] (gu [rows, 2I]; y does not overlap gu).
void launch_swiglu(const bf16* gu, int64_t rows, int64_t I, bf16* y, cudaStream_t stream);

// ---- rotary.cu ----
// One sequence's rows of a qkv_to_cache launch: rows [row_begin, next segment's row_begin) of the
// batch at positions pos0.., written to rows cache_row0.. of its cache layer (a continued cache's
// own storage starts after its shared prefix: cache_row0 = pos0 - prefix length).
struct QkvSegment {
  int64_t row_begin = 0, pos0 = 0, cache_row0 = 0;
  // Cache of one layer: [capacity, kv_heads, hd] of bf16, or int8 with scales [capacity,
  // kv_heads].
  void* k = nullptr;
  void* v = nullptr;
  float* k_scale = nullptr;  // int8 caches only
  float* v_scale = nullptr;
};
constexpr int kQkvMaxSegments = 32;  // sequences per launch (kernel parameter space)
struct QkvToCacheArgs {
  // [rows, (heads + 2·kv_heads)·hd]: GPT-NeoX's [heads, 3, hd] when `interleaved` (kv_heads ==
  // heads), else [q heads | k kv_heads | v kv_heads] (ops/attention_shape.h).
  const bf16* qkv = nullptr;
  int64_t rows = 0;  // of every segment together
  int heads = 0, kv_heads = 0, hd = 0, rot = 0;
  bool interleaved = true;
  const float* inv_freq = nullptr;  // device [rot/2], computed on the host (scaling included)
  // Optional: device [positions, rot/2, 2] (cos, sin) of every angle, computed on the host with
  // the same formula (training: positions < the longest sequence); null computes them here.
  const float* rope = nullptr;
  bf16* q_out = nullptr;  // [rows, heads·hd]
  bool int8 = false;      // every segment's cache is int8 (else bf16)
  int segments = 0;       // 1..kQkvMaxSegments, row_begin ascending from 0
  QkvSegment seg[kQkvMaxSegments];
};
void launch_qkv_to_cache(const QkvToCacheArgs& a, cudaStream_t stream);

// ---- batched causal self-attention (training): several sequences in one launch ----
// Sequence s of a batch: rows [begin, begin + n) of the q/k/v/out buffers, positions 0..n-1.
struct SeqRows {
  int64_t begin = 0, n = 0;
};
// One block's work in a batched launch: a tile of `tile_rows` rows of one sequence. kind 0: a
// query tile (forward, or dq in the backward), kind 1: a key tile (dk/dv in the backward).
struct alignas(16) AttnTile {
  int32_t begin, n, tile, kind;
};
// The tiles of every sequence, the longest work first (causal: query tile t sees key tiles
// 0..t, key tile j is seen by query tiles j..T-1 of the sequence's T tiles); ties keep sequence
// order and put a key tile before the query tile of equal work (the backward's dk/dv of key tile
// j and dq of query tile T-1-j alternate). query_tiles: a kind-0 tile per tile_rows queries
// (forward, dq); key_tiles: a kind-1 tile per tile_rows keys (dk/dv). Checks every sequence:
// 1 <= n, begin + n <= 2^31 - 1 - tile_rows (fails naming the sequence).
std::vector<AttnTile> causal_tiles(const SeqRows* seqs, int64_t n_seqs, int tile_rows,
                                   bool query_tiles, bool key_tiles);
// One launch's share of a tile table, passed by value in the kernel's parameter space
// (__grid_constant__: read in place, never copied): nothing to upload and order before the
// launch, and the values a block reads are block-uniform. Longer tables take several launches,
// in table order.
constexpr int kTilesPerLaunch = 1024;  // 16 KB of kernel parameters (CUDA 12.1+, sm_70+)
struct TileChunk {
  AttnTile t[kTilesPerLaunch];
};
// Copies tiles [first, first + count) of `tiles` into a chunk (count <= kTilesPerLaunch).
TileChunk tile_chunk(const std::vector<AttnTile>& tiles, size_t first, size_t count);

// ---- attention (attention/dispatch.cu: dispatch, combine and the fallback kernel;
//      attention/flash.cu, attention/decode.cu) ----
struct AttentionArgs {
  const bf16* q = nullptr;  // [rows, q_stride], head h at h·q_head
  int64_t q_stride = 0, q_head = 0;
  // Keys and values [capacity, kv_stride], kv head j at j·kv_head: a cache of one layer (kv_head =
  // hd), or (training) the k and v parts of the fused qkv (kv_stride 3·heads·hd, kv_head 3·hd).
  // Query head h reads kv head h / group (grouped-query attention; 1: one kv head per query head).
  const void* k = nullptr;
  const void* v = nullptr;
  const float* k_scale = nullptr;  // int8: [capacity, heads / group]
  const float* v_scale = nullptr;
  int64_t kv_stride = 0, kv_head = 0;
  bool int8 = false;
  int heads = 0, hd = 0, group = 1;  // heads: query heads
  int64_t rows = 0, past = 0;        // query r at position past + r sees keys [0, past + r]
  bf16* out = nullptr;               // [rows, out_stride], head h at h·hd
  int64_t out_stride = 0;
  // Optional (training): f32 [rows, heads], each row's log2-sum-exp of its scaled scores
  // (scale_log2 · q·k, the kernels' log2 domain) — what launch_attention_backward consumes.
  float* lse = nullptr;
  float scale_log2 = 0;  // (1/sqrt(hd)) · log2(e): scores are kept in the log2 domain
};

enum class AttentionPath { Flash, Decode, Fallback };
struct AttentionPlan {
  AttentionPath path = AttentionPath::Fallback;
  int splits = 1;              // key splits (partials combined by attention_combine)
  int64_t chunk = 0;           // Decode: keys per split; Flash: key tiles per split
  size_t workspace_bytes = 0;  // f32 partial outputs and log-sum-exps when splits > 1
};
AttentionPlan plan_attention(const AttentionArgs& a, int num_sms);
// Fails unless a.heads heads of a.hd fit the q and k/v rows as the strides describe.
void check_head_layout(const AttentionArgs& a);
// Runs the plan; `workspace` holds plan.workspace_bytes (device).
void run_attention(const AttentionArgs& a, const AttentionPlan& plan, void* workspace,
                   cudaStream_t stream);

// Split partials: part_o [rows, heads, splits, hd] f32 (each normalised by its own sum) and
// part_lse [rows, heads, splits] (log2-sum-exp of the split's scaled scores; -inf when the split
// saw no visible key; NaN when no split wrote the slot: skipped). out[r, h·hd + d] =
// Σ_s w_s · part_o / Σ_s w_s, w_s = 2^(lse_s - max lse).
struct Partials {
  float* o = nullptr;
  float* lse = nullptr;
};
Partials partials_in(void* workspace, int64_t rows, int heads, int splits, int hd);
void launch_attention_combine(const AttentionArgs& a, int splits, Partials part,
                              cudaStream_t stream);

// Batched decoding attention (attention/decode.cu): each job is up to kDecodeMaxRows query rows
// (any rows of q/out; row i at absolute position pos[i]) against one segment of keys — a shared
// prefix or a sequence's own cache — of n_keys keys whose first sits at position key_pos0; key j
// is visible to row i when key_pos0 + j <= pos[i]. A job's split z writes partial slot
// slot0 + z of its rows (Partials over `slots` slots per row); slots no job writes must hold a NaN
// log-sum-exp (the combine skips them). a.q, a.out, strides, heads, hd, scale and int8 come from
// the AttentionArgs of the launch; k, v and scales from the job.
struct DecodeJob {
  int32_t row[4];
  int64_t pos[4];
  int rows = 0;
  const void* k = nullptr;
  const void* v = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  int64_t n_keys = 0, key_pos0 = 0;
  int slot0 = 0, splits = 1, chunk = 0;
};
constexpr int kDecodeMaxJobs = 24;  // jobs per launch (kernel parameter space)
struct DecodeJobs {
  int n = 0;
  DecodeJob j[kDecodeMaxJobs];
};
// Sets a job's splits and chunk from its n_keys: splits of 256..2048 keys, enough of them for
// about 4 blocks per SM over `heads` heads when the job is alone.
void plan_decode_job(DecodeJob& job, int heads, int num_sms);
void launch_decode_jobs(const AttentionArgs& a, const DecodeJobs& jobs, int slots, Partials part,
                        cudaStream_t stream);

// Kernel families (internal to the attention files).
void launch_flash_attention(const AttentionArgs& a, int splits, int64_t tiles_per_split,
                            Partials part, cudaStream_t stream);
void launch_decode_attention(const AttentionArgs& a, int splits, int64_t chunk, Partials part,
                             cudaStream_t stream);
void launch_fallback_attention(const AttentionArgs& a, cudaStream_t stream);
bool flash_supported(const AttentionArgs& a);
// Hopper kernels (*_sm90.cu, built for sm_90a alone when the build has them: RCC_HAS_SM90): true
// when the current device runs them (compute capability 9.0) and the build has them.
bool sm90_available();
// launch_flash_attention_tiles on wgmma (attention/flash_sm90.cu): head_dim 64, bf16 k/v
// from position 0, 16-byte aligned q/k/v rows; only where sm90_available().
void launch_flash_attention_tiles_sm90(const AttentionArgs& a, const std::vector<AttnTile>& tiles,
                                       cudaStream_t stream);
bool decode_supported(const AttentionArgs& a);
// Batched self-attention through the flash kernel: `tiles` = causal_tiles(seqs, kFlashTileRows,
// query tiles) of the batch's sequences; a block per tile (and head), every tile's sequence
// rows [begin, begin + n) of q, k, v, out and lse from position 0, a launch per kTilesPerLaunch
// tiles. Needs flash_supported(a), a.past == 0, bf16 k, v [a.rows, kv_stride].
void launch_flash_attention_tiles(const AttentionArgs& a, const std::vector<AttnTile>& tiles,
                                  cudaStream_t stream);
constexpr int kFlashTileRows = 128;  // query rows per flash block (4 warps × 32 rows)
constexpr int kFlashBlockM = 64;     // plan_attention's unit: half a flash block's queries
constexpr int kFlashBlockN = 64;     // keys per flash tile
constexpr int kDecodeMaxRows = 4;    // the decode kernel serves at most this many query rows

}  // namespace rcc::cuda
