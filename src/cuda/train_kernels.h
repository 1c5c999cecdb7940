// Host-side launchers of the CUDA backend's training kernels (backward passes, loss, optimizer).
// Same conventions as kernels.h: every launcher enqueues on `stream` and checks the launch;
// row-major shapes; activations and their gradients bf16 with f32 math; weight gradients, master
// weights, optimizer moments and logits f32. Index arrays (ids, idx, targets) are device pointers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace rcc::cuda {

// ---- gelu_backward.cu ----
// dx[i] = dy[i] · GELU'(pre[i]), GELU'(x) = Φ(x) + x·φ(x) (exact erf form); dx may alias dy.
void launch_gelu_backward(const bf16* pre, const bf16* dy, bf16* dx, int64_t n,
                          cudaStream_t stream);

// ---- bias_grad.cu ----
// Column sums of a [rows, width] bf16 matrix (a bias gradient) in one launch: db [width] f32 +=
// Σ_rows dy, and db2 += the same sums unless null; per-chunk column partials added in a fixed
// order (deterministic). `workspace`: column_sums_workspace(rows, width) bytes, zeroed when first
// allocated (its counters return to zero after every launch; one launch at a time per workspace).
size_t column_sums_workspace(int64_t rows, int64_t width);
void launch_column_sums(const bf16* dy, int64_t rows, int64_t width, float* db, float* db2,
                        void* workspace, cudaStream_t stream);
// GELU's backward over [rows, width] with the bias gradient of the product that made pre:
// db [width] f32 += Σ_rows dx (of the bf16 dx written), the column sums taken while dx is written
// (workspace as launch_column_sums').
void launch_gelu_backward_bias(const bf16* pre, const bf16* dy, bf16* dx, int64_t rows,
                               int64_t width, float* db, void* workspace, cudaStream_t stream);

// ---- scatter_add.cu ----
// dst[idx[i]·width + c] += src[i·width + c] (idx distinct, so no two rows collide).
void launch_scatter_add_rows(const bf16* src, const int64_t* idx, int64_t n, int64_t width,
                             bf16* dst, cudaStream_t stream);
// dtable[ids[i]·H + c] += dx[i·H + c] (f32 atomics: ids may repeat).
void launch_embedding_backward(const int32_t* ids, int64_t n, const bf16* dx, int64_t H,
                               float* dtable, cudaStream_t stream);

// ---- cross_entropy.cu ----
// Per row r of logits [rows, V] (f32): loss[r] = w[r] · (logsumexp − logits[r, t[r]]) (0 where
// w[r] == 0); when dlogits is not null, dlogits[r, :] = scale · w[r] · (softmax − onehot(t[r])).
void launch_cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                          const float* weights, float scale, float* loss, bf16* dlogits,
                          cudaStream_t stream);

// ---- grad_norm.cu ----
// out[0] = Σ x[i]² over f32 x [n], summed in double (partials per block, then one block).
// `partials`: workspace of sum_squares_workspace(n) bytes.
size_t sum_squares_workspace(int64_t n);
void launch_sum_squares(const float* x, int64_t n, void* partials, double* out,
                        cudaStream_t stream);
// x[i] *= s
void launch_scale_f32(float* x, int64_t n, float s, cudaStream_t stream);

// ---- adamw.cu ----
// A whole optimizer step in one launch (Backend::adamw_tensors): AdamW, f32 in place, torch's f32
// order of operations,
//   p *= decay; m = m + one_minus_beta1·(g − m); v = v·beta2 + one_minus_beta2·g·g;
//   p = p − step_size·(m / (sqrt(v)/bc2_sqrt + eps))
// (1 − β1 and 1 − β2 are formed in double by the caller), for every chunk of the table, one block
// per chunk, the gradient read as g · grad_scale, tensors with `decayed` multiplied by `decay`
// (others by 1), each updated parameter also written to its tensor's compute copy (kind 1: bf16,
// 2: f32, 0: none) at element `within` + j.
struct AdamWTensorDev {
  void* compute;
  int32_t decayed;
  int32_t compute_kind;
};
struct AdamWChunk {
  int64_t offset;  // first element in the flat buffers
  int64_t within;  // the same element's index inside its tensor
  int32_t n;       // elements (<= kAdamWChunk)
  int32_t tensor;  // index into the tensor table
};
constexpr int64_t kAdamWChunk = 8192;
void launch_adamw_tensors(float* p, const float* g, float* m, float* v, const AdamWChunk* chunks,
                          int64_t n_chunks, const AdamWTensorDev* tensors, float decay,
                          float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                          float step_size, float bc2_sqrt, float grad_scale, cudaStream_t stream);
// dst[i] = bf16(src[i]) (round to nearest even): exists as launch_convert_to_bf16 (F32 source).

// ---- norm_backward.cu ----
// Backward of launch_layer_norm for input x [rows, H]: mean and 1/std recomputed from x in f32;
// dx[r, :] += (w·dy − mean(w·dy) − x̂ · mean(w·dy·x̂)) · rstd;  dw += Σ_r dy·x̂;  db += Σ_r dy.
// dw, db f32 (db may be null). `partials`: workspace of layer_norm_backward_workspace(rows, H)
// bytes for per-block column partial sums (deterministic: no atomics).
// `norms`: 1, or 2 for launch_layer_norm_pair_backward.
size_t layer_norm_backward_workspace(int64_t rows, int64_t H, int norms = 1);
void launch_layer_norm_backward(const bf16* x, int64_t rows, int64_t H, const float* w, float eps,
                                const bf16* dy, bf16* dx, float* dw, float* db, void* partials,
                                cudaStream_t stream);
// Both norms of launch_layer_norm_pair (x read once): dx += LN2'(dy2) + LN1'(dy1), summed in f32
// and rounded once; dw1, db1, dw2, db2 +=. Workspace: layer_norm_backward_workspace(rows, H, 2).
void launch_layer_norm_pair_backward(const bf16* x, int64_t rows, int64_t H, const float* w1,
                                     const float* w2, float eps, const bf16* dy1, const bf16* dy2,
                                     bf16* dx, float* dw1, float* db1, float* dw2, float* db2,
                                     void* partials, cudaStream_t stream);

// ---- rotary_rows.cu ----
// The training pass's rotary embedding over every row of a batch, in place on the fused qkv
// [rows, heads, 3, hd]: the first 2·(rot/2) dims of q and k of row r rotated by the angles of
// position pos[r] (device int32 [rows]; −1: the row is left alone), by −angle when `inverse`
// (the backward, on dqkv: the transpose of the rotation); v untouched. `rope`: the (cos, sin) table
// of QkvToCacheArgs::rope covering every position used (may be null when rot < 2).
void launch_rotary_qkv_rows(bf16* qkv, int64_t rows, int heads, int hd, int rot, const int32_t* pos,
                            const float* rope, bool inverse, cudaStream_t stream);
// The same on rows of (heads + 2·kv_heads)·hd in either fused layout (`blocked`: the Llama
// family's [q heads | k heads | v heads]; else kv_heads == heads and GPT-NeoX's).
void launch_rotary_qkv_rows(bf16* qkv, int64_t rows, int heads, int kv_heads, bool blocked, int hd,
                            int rot, const int32_t* pos, const float* rope, bool inverse,
                            cudaStream_t stream);

// ---- llama_train.cu ----
// Backward of launch_rms_norm over the same vectors (vector g of row r at r·row_stride + g·width
// of x, dy and dx): dx = (or += when `accumulate`) the input gradient (dx may be dy when not
// accumulating: Qwen3's head norms in place on dqkv); dw [width] f32 += Σ dy·x/rms unless null.
// rinv: f32 scratch of rms_norm_backward_scratch(rows·per_row, width) floats.
inline int64_t rms_norm_backward_scratch(int64_t vectors, int width) {
  return vectors + (vectors + 127) / 128 * width;  // 1/rms per vector | dw partials per chunk
}
void launch_rms_norm_backward(const bf16* x, const bf16* dy, bf16* dx, int64_t rows, int per_row,
                              int width, int64_t row_stride, const float* w, float eps, float* dw,
                              bool accumulate, float* rinv, cudaStream_t stream);
// dgu [rows, 2I] = (dy · up · silu'(gate) | dy · silu(gate)) for gu [rows, 2I], dy [rows, I].
void launch_swiglu_backward(const bf16* gu, const bf16* dy, bf16* dgu, int64_t rows, int64_t I,
                            cudaStream_t stream);
// Blocked qkv rows [rows, (heads + 2 kv)·hd] -> [rows, heads, 3, hd] with key/value head h / g
// repeated for query head h (g = heads / kv); and back for gradients: dq copied, the repeats'
// dk and dv summed (f32, head order) into their key/value head.
void launch_expand_qkv(const bf16* blocked, bf16* exp, int64_t rows, int heads, int kv_heads,
                       int hd, cudaStream_t stream);
void launch_reduce_dqkv(const bf16* dexp, bf16* blocked, int64_t rows, int heads, int kv_heads,
                        int hd, cudaStream_t stream);

// ---- attention/backward.cu ----
// Where the attention backward's q, k, v rows (and dq, dk, dv) live: row r, head h at
// r·row_stride + h·head_stride elements. Separate [rows, heads·hd] buffers: {heads·hd, hd}; the
// training pass's fused qkv [rows, heads, 3, hd] (q = qkv, k = qkv + hd, v = qkv + 2·hd) and its
// gradient: {3·heads·hd, 3·hd}.
struct QkvLayout {
  int64_t row_stride = 0, head_stride = 0;
};
// Backward of causal self-attention of every sequence of a batch (sequence s: rows
// [seqs[s].begin, + seqs[s].n) of the buffers, positions from 0), without the n×n matrix: scores
// are recomputed tile by tile (FlashAttention-2 backward), the tiles of every sequence in one
// launch. Inputs q, k, v (bf16, `layout`), out, dout [rows, heads·hd] bf16 (seqs on the host);
// outputs dq, dk, dv (bf16, `layout`: the fused layout writes all of dqkv's row), overwritten at
// the sequences' rows (rows outside every sequence: dq may be overwritten with zeros, dk and dv
// are left alone). scale = 1/sqrt(hd). `workspace`: attention_backward_workspace(rows, heads,
// hd) bytes (row log-sum-exps, D = rowsum(dout ∘ out), f32 dq accumulators, as the kernels
// need). `lse`: the forward's AttentionArgs::lse output (f32 [rows, heads], log2 domain), or null
// to recompute it.
size_t attention_backward_workspace(int64_t rows, int heads, int hd);
// Whether the default path (RCC_CUDA_ATTN_BWD unset) takes the Hopper wgmma kernel for head_dim hd
// on the current device (attention/backward_sm90.cu).
bool attention_backward_uses_sm90(int hd);
// The inverse rotary embedding (launch_rotary_qkv_rows with `inverse`) that the attention
// backward may fold into its dq and dk outputs: pos[r] the position of batch row r (−1: in no
// sequence), rope the (cos, sin) table, half = rot / 2.
struct RotaryGrad {
  const int32_t* pos = nullptr;
  const float* rope = nullptr;
  int half = 0;
};
// `fold` (may be null): returns true when dq and dk came out with the inverse rotation applied
// (the gradients of the unrotated q and k; the wgmma path, half 8, 16 or 32: rotated in f32
// before the one rounding), false when the caller must still rotate them.
bool launch_attention_backward(const bf16* q, const bf16* k, const bf16* v, QkvLayout layout,
                               const bf16* out, const float* lse, const bf16* dout,
                               const SeqRows* seqs, int64_t n_seqs, int64_t rows, int heads, int hd,
                               bf16* dq, bf16* dk, bf16* dv, void* workspace, cudaStream_t stream,
                               const RotaryGrad* fold = nullptr);

}  // namespace rcc::cuda
