// Compute backends (CPU, CUDA): where activations, weights and KV caches live and who runs the ops.
//
// The model code (model/transformer.cpp, rcc/compressor.cpp, rcc/decoder_memory.cpp) is written
// once against this interface; a backend only supplies memory and the individual ops. "Device
// pointers" below are pointers into the backend's memory (plain host pointers on the CPU backend).
// Activation buffers hold elements of act_dtype(): F32 on the CPU, BF16 on CUDA (f32 accumulation
// inside every op). Weights are prepared once per backend (prepare_weight): the CPU backend
// computes with the checkpoint tensors as they are (f32, bf16 or f16, often mapped), CUDA copies
// them to the device in bf16 (vectors — layer norms and biases — in f32).
//
// Every op is enqueued in order on the backend's single stream; results reach the host only through
// copy_to_host / download_f32 / linear_f32_host, which synchronise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "ops/attention_shape.h"

namespace rcc {

class KVCache;

// Rows [begin, begin + count) of a batch belong to the sequence whose cache is `cache`; they sit
// at positions cache->length() .. + count - 1 (model/transformer.h).
struct SeqSlice {
  int64_t begin = 0, count = 0;
  KVCache* cache = nullptr;
};

enum class DeviceKind { CPU, CUDA };

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;  // "cpu (2 threads)", "cuda:0 NVIDIA H100 80GB HBM3"
  bool is_host() const { return kind() == DeviceKind::CPU; }
  virtual DType act_dtype() const = 0;
  size_t act_bytes(int64_t n) const { return size_t(n) * dtype_size(act_dtype()); }
  // The KV-cache element type: F32 on the CPU; BF16 on CUDA, or I8 (per position and head absmax
  // scale, f32) when `eight_bit` — rejected by backends without it.
  virtual DType kv_dtype(bool eight_bit) const = 0;

  // ---- memory ----
  // Throws rcc::Error naming the size when the device has no room. release(nullptr) is a no-op.
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void copy_to_device(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_device(void* dst, const void* src, size_t bytes) = 0;
  // `rows` rows of `row_bytes` each: row r from src + r·src_pitch to dst + r·dst_pitch (device).
  virtual void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                         size_t row_bytes, int64_t rows) = 0;
  virtual void synchronize() = 0;
  // High-water mark of device memory in use since the last reset (0 where not tracked).
  virtual size_t peak_bytes() const { return 0; }
  virtual void reset_peak() {}
  // Round large allocations up to a few size classes from now on (training, whose buffer sizes
  // drift with every batch: a caching allocator then reuses its freed blocks instead of mapping
  // new memory each time) at the cost of some memory per allocation; off by default, so that
  // inference takes exactly what it asks for. A no-op where there is nothing to gain.
  virtual void round_allocations(bool on) { (void)on; }

  // ---- weights ----
  // The tensor as this backend computes with it: 2-D tensors (matrices, embeddings) in the
  // backend's matrix dtype, 1-D tensors (norm weights, biases) in f32. The CPU returns `host`.
  virtual Tensor prepare_weight(const Tensor& host) = 0;
  // A linear layer's matrix W [N, K] for FP8 products (spec §2.8): E4M3 values W / s with one f32
  // scale s = max |W| / 448 (Tensor::fp8_scales, [1]), for linear() only; linear() then scales
  // its input the same way on the fly (per call: dynamic). Backends without FP8 matrix units
  // refuse (the default), naming themselves.
  virtual Tensor prepare_weight_fp8(const Tensor& host);

  // ---- activations between host f32 and the device ----
  virtual void upload_f32(const float* host, int64_t n, void* dev) = 0;
  virtual void download_f32(const void* dev, int64_t n, float* host) = 0;

  // ---- ops (all pointers are device activation buffers unless named otherwise) ----
  // out[i, :] = table[ids[i], :]; ids on the host, already checked against the vocabulary.
  virtual void embed(const Tensor& table, const int32_t* ids_host, int64_t n, void* out) = 0;
  // out[i, :] = src[idx[i] · src_stride ...+ width]; idx on the host; out rows `dst_stride` apart.
  virtual void gather_rows(const void* src, int64_t src_stride, const int64_t* idx_host, int64_t n,
                           int64_t width, void* dst, int64_t dst_stride) = 0;
  // y = LayerNorm(x) · w + b over rows of H (x, y may alias); w, b prepared f32 [H].
  virtual void layer_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, const Tensor& b,
                          float eps, void* y) = 0;
  // y = RMSNorm(x) · w over rows of H (x, y may alias; the Llama family); w prepared f32 [H].
  virtual void rms_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                        void* y) = 0;
  // Qwen3's per-head norms, in place on the fused qkv [rows, s.qkv_width()]: every query head
  // RMSNorm'd with qw [hd], every key head with kw [hd] (before the rotary embedding).
  virtual void head_rms_norm(void* qkv, int64_t rows, const AttentionShape& s, const Tensor& qw,
                             const Tensor& kw, float eps) = 0;
  // Both layer norms of a parallel-residual layer (GPT-NeoX: ln1 and ln2 read the same input):
  // y1 = LayerNorm(x)·w1 + b1, y2 = LayerNorm(x)·w2 + b2, and x copied to x_copy unless null (the
  // training forward records the layer input). No output may alias x or another output. The
  // default runs copy_device and layer_norm; a backend may read x once (backend_composed.cpp).
  virtual void layer_norm_pair(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                               const Tensor& b1, const Tensor& w2, const Tensor& b2, float eps,
                               void* y1, void* y2, void* x_copy);
  // y[rows, N] = x[rows, K] · W[N, K]^T (+ bias) (+ y when accumulate).
  virtual void linear(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
                      bool accumulate) = 0;
  // As linear without bias, the result in f32 on the host (the LM head: logits for sampling).
  virtual void linear_f32_host(const void* x, int64_t rows, const Tensor& W, float* y_host) = 0;
  // y = exact GELU(x) (y may be x: in place); y += x.
  virtual void gelu(const void* x, void* y, int64_t n) = 0;
  // y [rows, I] = silu(gu[:, :I]) · gu[:, I:] for gu [rows, 2I] (SwiGLU; y does not overlap gu).
  virtual void swiglu(const void* gu, int64_t rows, int64_t I, void* y) = 0;
  virtual void add(void* y, const void* x, int64_t n) = 0;
  // qkv: [rows, s.qkv_width()] (the fused layout of `s`, ops/attention_shape.h), rows at
  // positions pos0 + r. Rotates the first rope.dims dims of every query and key head (spec §1.4),
  // writes q to q_out [rows, s.q_width()] and k, v to positions pos0.. of layer `layer` of
  // `cache` ([.., kv_heads, hd]; it has room: the model reserves before the pass). qkv may be
  // overwritten.
  virtual void qkv_to_cache(void* qkv, int64_t rows, const AttentionShape& s, const Rope& rope,
                            int64_t pos0, KVCache& cache, int64_t layer, void* q_out) = 0;
  // Causal attention: query r (row r of q [rows, s.q_width()]) sits at position past + r and
  // attends to cached positions [s.first_visible(past + r), past + r] of layer `layer` (a shared
  // prefix's positions included, kv_cache.h); query head h reads kv head h / s.group(); scale
  // 1/sqrt(hd). out [rows, s.q_width()].
  virtual void attention(const void* q, int64_t rows, int64_t past, const KVCache& cache,
                         int64_t layer, const AttentionShape& s, void* out) = 0;
  // Both for every sequence of a batch pass (qkv [rows, s.qkv_width()] and q_out, out
  // [rows, s.q_width()] of the whole batch; sequence s at rows [s.begin, s.begin + s.count),
  // positions from s.cache->length(), which the pass advances only after its last layer). The
  // results equal the per-sequence calls exactly on the CPU; a backend may batch the sequences into
  // single launches and read a prefix that several sequences share once. The defaults loop over the
  // sequences.
  virtual void qkv_to_cache_batch(void* qkv, std::span<const SeqSlice> seqs,
                                  const AttentionShape& s, const Rope& rope, int64_t layer,
                                  void* q_out);
  virtual void attention_batch(const void* q, std::span<const SeqSlice> seqs, int64_t layer,
                               const AttentionShape& s, void* out);

  // ---- training (model/transformer_backward.cpp, train/) ----
  // "act" buffers hold act_dtype() elements (activations and their gradients); "f32" buffers are
  // device f32 (master weights, weight gradients, optimizer moments, logits). Gradient outputs
  // named "+=" accumulate; the others overwrite.
  virtual void zero(void* p, size_t bytes) = 0;
  // The training pass's attention works on the fused qkv [rows, s.qkv_width()] (the layout of
  // `s`) as the qkv product writes it, every sequence of a batch at once (sequence (begin, n):
  // rows [begin, begin + n), positions 0..n-1; disjoint; rows outside every sequence are left
  // alone).
  // In place: the first rope.dims dims of q and k of every head rotated as qkv_to_cache does
  // (spec §1.4); `inverse` rotates by the negative angle — the backward, applied to dqkv (the
  // rotation's transpose). v is untouched.
  virtual void rotary_qkv(void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                          const AttentionShape& s, const Rope& rope, bool inverse) = 0;
  // Causal self-attention of each sequence on the (rotated) fused qkv: out [rows, s.q_width()],
  // scale 1/sqrt(hd) (one call lets a backend run every sequence in one launch). `lse` (f32
  // [rows, heads], may be null): the rows' log-sum-exps of the scaled scores, in the backend's
  // own convention, for its self_attention_backward (the CPU leaves it alone).
  virtual void self_attention(const void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                              const AttentionShape& s, void* out, float* lse) = 0;
  // Its backward, given the forward's output `out` (and its `lse`, or null to recompute) and
  // dout: dqkv [rows, heads, 3, hd] at the sequences' rows (other rows: k and v parts untouched,
  // the q part may be zeroed) — the gradients of q and k before the rotary embedding of their
  // first `rot` dims (rotary_qkv with `inverse` applied to the rotated ones: a backend may fold
  // it into its kernels; rot 0: the gradients of the rotated q and k) and of v.
  virtual void self_attention_backward(const void* qkv, const void* out, const float* lse,
                                       const void* dout,
                                       std::span<const std::pair<int64_t, int64_t>> seqs,
                                       const AttentionShape& s, const Rope& rope, void* dqkv) = 0;
  // Gradients of y = x · W^T + b, dy [rows, N]: dx [rows, K] = dy · W (+= when accumulate_dx;
  // null skips); dW [N, K] f32 += dy^T · x; db [N] f32 += Σ_rows dy (null skips).
  virtual void linear_backward(const void* x, int64_t rows, const Tensor& W, const void* dy,
                               void* dx, bool accumulate_dx, float* dW, float* db) = 0;
  // A bias gradient alone: db [N] f32 += Σ_rows dy [rows, N], and db2 += the same sums unless null
  // (GPT-NeoX's parallel residual: the dense and fc_out products see the same output gradient).
  virtual void bias_backward(const void* dy, int64_t rows, int64_t N, float* db, float* db2) = 0;
  // dx = dy · GELU'(pre) (exact GELU) over [rows, width]; dx may alias dy. db [width] f32 += Σ_rows
  // dx unless null: the bias gradient of the product that made pre (a backend may take the sums
  // while it writes dx).
  virtual void gelu_backward(const void* pre, const void* dy, void* dx, int64_t rows, int64_t width,
                             float* db) = 0;
  // Backward of layer_norm with input x [rows, H]: dx += ..., dw, db [H] f32 +=.
  virtual void layer_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w,
                                   float eps, const void* dy, void* dx, float* dw, float* db) = 0;
  // Backward of layer_norm_pair: dx += LN2'(dy2) + LN1'(dy1) (the ln2 term first, as two
  // layer_norm_backward calls would add them); dw1, db1, dw2, db2 [H] f32 +=. dx aliases none of
  // x, dy1, dy2. The default runs layer_norm_backward twice; a backend may read x and dx once.
  virtual void layer_norm_pair_backward(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                        const Tensor& w2, float eps, const void* dy1,
                                        const void* dy2, void* dx, float* dw1, float* db1,
                                        float* dw2, float* db2);
  // Backward of rms_norm with input x [rows, H]: dx += ..., dw [H] f32 +=.
  virtual void rms_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                                 const void* dy, void* dx, float* dw) = 0;
  // Backward of head_rms_norm: qkv_pre [rows, s.qkv_width()] holds the norms' input (the qkv
  // product); dqkv holds, in the q and k heads, the gradient w.r.t. the norms' output and leaves
  // with the gradient w.r.t. their input (v untouched); dqw, dkw [hd] f32 +=.
  virtual void head_rms_norm_backward(const void* qkv_pre, int64_t rows, const AttentionShape& s,
                                      const Tensor& qw, const Tensor& kw, float eps, void* dqkv,
                                      float* dqw, float* dkw) = 0;
  // Backward of swiglu: dgu [rows, 2I] (written) from gu (the forward's input) and dy [rows, I];
  // db [2I] f32 += Σ_rows dgu unless null (the bias of the product that made gu).
  virtual void swiglu_backward(const void* gu, const void* dy, void* dgu, int64_t rows, int64_t I,
                               float* db) = 0;
  // dst[idx[i]·width ...] += src[i·width ...] for rows i < n; idx on the host, distinct.
  virtual void scatter_add_rows(const void* src, const int64_t* idx_host, int64_t n, int64_t width,
                                void* dst) = 0;
  // dtable [V, H] f32 += rows of dx [n, H] at ids (host, checked; may repeat).
  virtual void embedding_backward(const int32_t* ids_host, int64_t n, const void* dx, int64_t H,
                                  float* dtable) = 0;
  // logits [rows, N] f32 = x · W^T.
  virtual void linear_f32(const void* x, int64_t rows, const Tensor& W, float* logits) = 0;
  // Weighted cross-entropy as ops::cross_entropy: returns Σ_r w_r · CE_r (synchronises);
  // dlogits [rows, V] act = scale · w_r · (softmax − onehot) when not null. Targets and weights on
  // the host (targets checked).
  virtual double cross_entropy(const float* logits, int64_t rows, int64_t V,
                               const int32_t* targets_host, const float* weights_host,
                               void* dlogits, float scale) = 0;
  // The same over consecutive parts of the rows: part k is rows [first[k], first[k + 1]) (first
  // ascending from 0, first.back() the row count); returns each part's Σ w_r · CE_r in row order.
  // The composed version calls cross_entropy per part; CUDA uploads, launches and synchronises
  // once for all parts (a training step has one part per sample).
  virtual std::vector<double> cross_entropy_parts(const float* logits, int64_t V,
                                                  std::span<const int64_t> first,
                                                  const int32_t* targets_host,
                                                  const float* weights_host, void* dlogits,
                                                  float scale);
  // Σ x² over f32 [n] (synchronises); x *= s.
  virtual double sum_squares(const float* x, int64_t n) = 0;
  virtual void scale_f32(float* x, int64_t n, float s) = 0;
  // One tensor of adamw_tensors: elements [offset, offset + numel) of the flat buffers.
  struct AdamWTensor {
    int64_t offset = 0, numel = 0;
    bool decayed = false;         // multiplied by `decay` (else by 1)
    void* compute = nullptr;      // also write the updated parameters here (null: don't) ...
    bool compute_matrix = false;  // ... in the matrix dtype (as master_to_matrix), else f32
  };
  // One AdamW update (train/optimizer.h has the formula, torch's order of f32 operations) of every
  // listed tensor of flat f32 buffers p, g, m, v in one pass (a whole optimizer step): p, m, v
  // updated in place, the gradient read as g · grad_scale (gradient clipping folded in: the f32
  // product scale_f32 would store; g itself is left unchanged), and each tensor's updated
  // parameters also written to its compute copy when it has one. Tensors must not overlap.
  //   p *= decay (decayed tensors; others by 1); m += (1−β1)(g − m); v = β2 v + (1−β2) g²;
  //   p −= step_size · m / (√v / bc2_sqrt + eps)
  // decay = 1 − lr · weight_decay; step_size = lr / (1 − β1^t); bc2_sqrt = sqrt(1 − β2^t). β1, β2
  // and eps are given in double: 1 − β1 and 1 − β2 are formed in double, then rounded to f32, as
  // torch does with its Python-float hyperparameters.
  virtual void adamw_tensors(float* p, const float* g, float* m, float* v,
                             std::span<const AdamWTensor> tensors, float decay, double beta1,
                             double beta2, double eps, float step_size, float bc2_sqrt,
                             float grad_scale) = 0;
  // The matrix copy of f32 master weights: dst [n] (matrix dtype of prepare_weight) = src. The
  // CPU computes with the f32 masters and never calls it.
  virtual void master_to_matrix(const float* src, int64_t n, void* dst) = 0;
};

// The process-wide CPU backend (thread pool of core/thread_pool.h).
Backend& cpu_backend();
// "cpu" or "cuda" (optionally "cuda:N"); throws UsageError for anything else, and rcc::Error when
// CUDA was not compiled in or no GPU is visible. The backend lives until the process ends.
Backend& backend_for(const std::string& device);
bool cuda_compiled();

// Owned device memory of one backend (move-only).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& be, size_t bytes)
      : be_(&be), p_(bytes ? be.alloc(bytes) : nullptr), n_(bytes) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept : be_(o.be_), p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_;
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }
  void reset() {
    if (p_) be_->release(p_);
    p_ = nullptr;
    n_ = 0;
  }
  void* get() const { return p_; }
  size_t bytes() const { return n_; }
  Backend* backend() const { return be_; }
  // Grows (never shrinks) to at least `bytes`, discarding the contents.
  void ensure(Backend& be, size_t bytes) {
    if (be_ == &be && n_ >= bytes) return;
    reset();
    be_ = &be;
    p_ = bytes ? be.alloc(bytes) : nullptr;
    n_ = bytes;
  }

 private:
  Backend* be_ = nullptr;
  void* p_ = nullptr;
  size_t n_ = 0;
};

// p advanced by n activation elements of backend `be`.
inline void* act_at(const Backend& be, void* p, int64_t n) {
  return static_cast<char*>(p) + be.act_bytes(n);
}
inline const void* act_at(const Backend& be, const void* p, int64_t n) {
  return static_cast<const char*>(p) + be.act_bytes(n);
}

// Checks the part starts of cross_entropy_parts (from 0, ascending); throws naming the problem.
void check_parts(std::span<const int64_t> first);

}  // namespace rcc
