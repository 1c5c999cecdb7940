// The CUDA backend's class (make_cuda_backend, cuda/backend.h): the Backend interface
// (backend/backend.h) on one GPU. Memory, weights, uploads and inference ops in backend.cu,
// training ops in backend_train.cu. Included only by those .cu files.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/kv_cache.h"
#include "cuda/common.cuh"
#include "cuda/gemm.h"
#include "cuda/kernels.h"

namespace rcc::cuda {

// Bytes in use and the high-water mark; shared with the deleters of weight tensors, which may
// outlive the backend.
struct MemStats {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};
  void add(int64_t n) {
    const int64_t now = live.fetch_add(n) + n;
    int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
  }
  void sub(int64_t n) { live.fetch_sub(n); }
};

constexpr size_t kStageChunk = size_t(64) << 20;  // largest single staged copy (bytes)

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;

  cudaStream_t stream() const { return stream_; }

  DeviceKind kind() const override { return DeviceKind::CUDA; }
  std::string name() const override { return name_; }
  DType act_dtype() const override { return DType::BF16; }
  DType kv_dtype(bool eight_bit) const override { return eight_bit ? DType::I8 : DType::BF16; }

  // ---- memory ----
  void* alloc(size_t bytes) override;
  // The size alloc() takes from the pool for a request of `bytes` (backend.cu).
  static size_t pool_size(size_t bytes);
  void round_allocations(bool on) override;
  struct PoolUse {
    size_t reserved = 0, used = 0;
  };
  PoolUse pool_use() const;
  void log_slow_alloc(size_t requested, size_t bytes, const PoolUse& before,
                      std::chrono::steady_clock::time_point t0) const;
  void release(void* p) noexcept override;
  void copy_to_device(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_device(void* dst, const void* src, size_t bytes) override;
  void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes,
                 int64_t rows) override;

  void synchronize() override;
  size_t peak_bytes() const override { return size_t(std::max<int64_t>(0, stats_->peak.load())); }
  void reset_peak() override { stats_->peak.store(stats_->live.load()); }

  // ---- weights ----
  Tensor prepare_weight(const Tensor& host) override;
  Tensor prepare_weight_fp8(const Tensor& host) override;  // backend_fp8.cu

  // ---- activations ----
  void upload_f32(const float* host, int64_t n, void* dev) override;
  void download_f32(const void* dev, int64_t n, float* host) override;

  // ---- ops ----
  void embed(const Tensor& table, const int32_t* ids_host, int64_t n, void* out) override;
  void gather_rows(const void* src, int64_t src_stride, const int64_t* idx_host, int64_t n,
                   int64_t width, void* dst, int64_t dst_stride) override;

  void layer_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, const Tensor& b,
                  float eps, void* y) override;
  void rms_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                void* y) override;
  void head_rms_norm(void* qkv, int64_t rows, const AttentionShape& s, const Tensor& qw,
                     const Tensor& kw, float eps) override;
  void swiglu(const void* gu, int64_t rows, int64_t I, void* y) override;
  void layer_norm_pair(const void* x, int64_t rows, int64_t H, const Tensor& w1, const Tensor& b1,
                       const Tensor& w2, const Tensor& b2, float eps, void* y1, void* y2,
                       void* x_copy) override;

  void linear(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
              bool accumulate) override;

  void linear_f32_host(const void* x, int64_t rows, const Tensor& W, float* y_host) override;
  void gelu(const void* x, void* y, int64_t n) override;
  void add(void* y, const void* x, int64_t n) override;
  void qkv_to_cache(void* qkv, int64_t rows, const AttentionShape& s, const Rope& rope,
                    int64_t pos0, KVCache& cache, int64_t layer, void* q_out) override;

  void attention(const void* q, int64_t rows, int64_t past, const KVCache& cache, int64_t layer,
                 const AttentionShape& s, void* out) override;
  void qkv_to_cache_batch(void* qkv, std::span<const SeqSlice> seqs, const AttentionShape& s,
                          const Rope& rope, int64_t layer, void* q_out) override;
  void attention_batch(const void* q, std::span<const SeqSlice> seqs, int64_t layer,
                       const AttentionShape& s, void* out) override;

  // ---- training ----
  void zero(void* p, size_t bytes) override;
  void rotary_qkv(void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                  const AttentionShape& s, const Rope& rope, bool inverse) override;
  void self_attention(const void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                      const AttentionShape& s, void* out, float* lse) override;
  void self_attention_backward(const void* qkv, const void* out, const float* lse, const void* dout,
                               std::span<const std::pair<int64_t, int64_t>> seqs,
                               const AttentionShape& s, const Rope& rope, void* dqkv) override;

  void linear_backward(const void* x, int64_t rows, const Tensor& W, const void* dy, void* dx,
                       bool accumulate_dx, float* dW, float* db) override;
  void bias_backward(const void* dy, int64_t rows, int64_t N, float* db, float* db2) override;

  void gelu_backward(const void* pre, const void* dy, void* dx, int64_t rows, int64_t width,
                     float* db) override;
  void layer_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                           const void* dy, void* dx, float* dw, float* db) override;
  void rms_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                         const void* dy, void* dx, float* dw) override;
  void head_rms_norm_backward(const void* qkv_pre, int64_t rows, const AttentionShape& s,
                              const Tensor& qw, const Tensor& kw, float eps, void* dqkv, float* dqw,
                              float* dkw) override;
  void swiglu_backward(const void* gu, const void* dy, void* dgu, int64_t rows, int64_t I,
                       float* db) override;
  void layer_norm_pair_backward(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                const Tensor& w2, float eps, const void* dy1, const void* dy2,
                                void* dx, float* dw1, float* db1, float* dw2, float* db2) override;

  void scatter_add_rows(const void* src, const int64_t* idx_host, int64_t n, int64_t width,
                        void* dst) override;

  void embedding_backward(const int32_t* ids_host, int64_t n, const void* dx, int64_t H,
                          float* dtable) override;

  void linear_f32(const void* x, int64_t rows, const Tensor& W, float* y) override;
  double cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets_host,
                       const float* weights_host, void* dlogits, float scale) override;
  std::vector<double> cross_entropy_parts(const float* logits, int64_t V,
                                          std::span<const int64_t> first,
                                          const int32_t* targets_host, const float* weights_host,
                                          void* dlogits, float scale) override;

  double sum_squares(const float* x, int64_t n) override;
  void scale_f32(float* x, int64_t n, float s) override;

  void adamw_tensors(float* p, const float* g, float* m, float* v,
                     std::span<const AdamWTensor> tensors, float decay, double beta1, double beta2,
                     double eps, float step_size, float bc2_sqrt, float grad_scale) override;
  void master_to_matrix(const float* src, int64_t n, void* dst) override;

 private:
  void use() const { RCC_CUDA_CHECK(cudaSetDevice(dev_)); }

  [[noreturn]] void out_of_memory(cudaError_t e, size_t bytes);

  // A weight block owned by a shared_ptr whose deleter frees it (possibly after the backend is
  // gone, possibly while the process exits: errors there are ignored).
  std::pair<void*, std::shared_ptr<void>> weight_alloc(size_t bytes);

  // Grows a scratch buffer (scratch_) to at least `bytes`, by half again at least, discarding its
  // contents (stream-ordered: the old block is freed after the work already enqueued on it).
  void grow(DeviceBuffer& b, size_t bytes);

  // Pinned staging ring for host → device copies: a region stays reserved until the copy that
  // reads it has run (tracked by stage_event_, recorded after the latest staged copy).
  void* stage(size_t bytes);
  void staged_copy(void* dst, const void* staged, size_t bytes);
  void wait_staged();

  // A device vector of at least n bf16 ones (the bias-gradient products).
  const bf16* ones(int64_t n);

  // Index arrays (embed ids, gather rows) on the device: one of the last kIndexUploads arrays
  // when the contents are the same, else uploaded into the least recently used buffer (the
  // stream orders the upload after earlier kernels that read its previous contents).
  void* upload_index(const void* host, size_t bytes);

  // rope.inv_freq on the device (computed on the host as ops/rotary_cpu.cpp does: f32, as the
  // Hugging Face reference), uploaded once per set of frequencies. Null for dims < 2.
  const float* inv_freq(const Rope& rope);

  // Training's rotary tables: (cos, sin) of every angle for positions [0, positions), [pos, rot/2,
  // 2] f32, computed on the host exactly as the kernels would (a = float(pos) · inv_freq in f32,
  // cos/sin in double rounded to f32), grown by doubling. Null for dims < 2.
  const float* rope_table(int64_t positions, const Rope& rope);
  // Training takes every shape, but no sliding window shorter than a sequence (throws naming it).
  static void check_trainable(const AttentionShape& s,
                              std::span<const std::pair<int64_t, int64_t>> seqs);
  // Grouped-query or blocked qkv rows [rows, s.qkv_width()] regrouped into GPT-NeoX rows
  // [rows, heads, 3, hd] (each key/value head repeated for its query heads) in scratch_.gqa_exp.
  const void* expand_qkv(const void* qkv, int64_t rows, const AttentionShape& s);
  cuda::QkvToCacheArgs qkv_args(const AttentionShape& s, const Rope& rope);
  // Sliding windows are not in the attention kernels: a window is accepted while no query is far
  // enough along for it to exclude a key.
  static void check_window(const AttentionShape& s, int64_t end_position);
  // A batch's rows' positions for the batched rotary kernels: device int32 [rows], row begin + i
  // of sequence (begin, n) holds i, rows outside every sequence −1; rows = the largest end,
  // longest = the largest n. The last two batches' tables are kept (a training step alternates
  // between the encoder's and the decoder's batch, each used by every layer, both directions).
  struct RowPositions {
    const int32_t* pos = nullptr;
    int64_t rows = 0, longest = 0;
  };
  RowPositions row_positions(std::span<const std::pair<int64_t, int64_t>> seqs);
  static void check_matrix(const Tensor& W, const char* what);
  // linear() with an FP8 matrix (prepare_weight_fp8): x quantised into scratch_.fp8_x,
  // then the FP8 product (backend_fp8.cu).
  void linear_fp8(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
                  bool accumulate);
  static void check_vector(const Tensor& v, int64_t n, const char* what);
  void check_cache(const KVCache& c, int64_t heads, int64_t hd, int64_t end, int64_t layer) const;

  // Attention arguments shared by attention (queries against a KV cache) and self_attention
  // (training): q [rows, q_stride], k and v [past + rows, kv_stride], out [rows, out_stride], head
  // h at h·hd in each; the scale 1/sqrt(hd) in the log2 domain. The caller adds int8 scales / lse.
  static cuda::AttentionArgs attention_args(const void* q, int64_t q_stride, const void* k,
                                            const void* v, int64_t kv_stride, int64_t heads,
                                            int64_t hd, int64_t rows, int64_t past, void* out,
                                            int64_t out_stride);
  // Plans `a` for this GPU, grows the attention workspace and enqueues the kernels.
  void run_attention(const cuda::AttentionArgs& a);

  int dev_ = 0;
  std::string name_;
  int num_sms_ = 1;
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
  std::shared_ptr<MemStats> stats_ = std::make_shared<MemStats>();
  std::mutex mu_;
  std::unordered_map<void*, size_t> sizes_;
  // Freed large blocks kept for reuse by size in training (alloc(); oldest first), under mu_.
  struct CachedBlock {
    void* p;
    size_t bytes;
  };
  static constexpr size_t kCacheMin = size_t(16) << 20;   // blocks this large are cached
  static constexpr size_t kCacheFloor = size_t(1) << 30;  // total allowed below 4x this in use
  static constexpr size_t kCachedBlocks = 32;
  std::vector<CachedBlock> block_cache_;
  size_t cached_bytes_ = 0;
  void* take_cached_block(size_t bytes);
  bool cache_block(void* p, size_t bytes) noexcept;  // false: not cached (the caller frees it)
  void flush_block_cache() noexcept;
  std::unique_ptr<cuda::Gemm> gemm_;
  bool alloc_log_ = false;  // RCC_CUDA_ALLOC_LOG=1 (log_slow_alloc)
  // RCC_CUDA_FUSED=0 turns off the training passes' fusions (layer_norm_pair and its backward run
  // as Backend's compositions; bias gradients, gelu_backward's included, as separate
  // matrix-vector products): the unfused baseline of A/B measurements and checks.
  bool fused_ = true;
  // Bias gradients (linear_backward, bias_backward, unfused gelu_backward): db, db2 += Σ_rows dy.
  void bias_sums(const cuda::bf16* dy, int64_t rows, int64_t N, float* db, float* db2);
  // The column-sum kernels' workspace for [rows, width] (zeroed when newly allocated).
  void* column_workspace(int64_t rows, int64_t width);

  void* stage_ = nullptr;
  size_t stage_cap_ = 0, stage_off_ = 0;
  cudaEvent_t stage_event_ = nullptr;
  bool stage_pending_ = false;

  // upload_index's device copies of the last few index arrays: a training pass gathers and
  // scatters the same rows at every layer (a host-to-device copy and a launch gap each, over a
  // hundred a step for 2×410m), so an array already on the device is reused instead of uploaded
  // again (bench/results/training_gpu.md).
  struct IndexUpload {
    std::vector<char> host;  // the contents of `dev`
    DeviceBuffer dev;
    uint64_t last_use = 0;
  };
  static constexpr int kIndexUploads = 8;
  uint64_t index_clock_ = 0;
  struct PositionCache {
    std::vector<std::pair<int64_t, int64_t>> seqs;
    DeviceBuffer dev;  // int32 [rp.rows]
    RowPositions rp;
  };
  // The backend's device scratch, each buffer from alloc() and kept for the next call of its op;
  // all of them go back at once in ~CudaBackend (before the pool and the stream do).
  struct Scratch {
    IndexUpload index[kIndexUploads];  // upload_index
    DeviceBuffer inv_freq;             // inv_freq(): f32 [dims/2], inv_freq_host_
    DeviceBuffer attn;                 // run_attention's workspace (key-split partials)
    DeviceBuffer f32_out;              // linear_f32_host's product before its download
    DeviceBuffer fp8_x;                // linear_fp8's quantised input [rows, K] | scale | amax
    // Training:
    DeviceBuffer attn_bwd;           // the attention backward's LSE, D and f32 dQ accumulators
    DeviceBuffer ln_bwd;             // the layer-norm backward's column partials
    DeviceBuffer rms_bwd;            // the RMSNorm backward's 1/rms per vector
    DeviceBuffer gqa_exp, gqa_dexp;  // expand_qkv's rows and their gradient
    DeviceBuffer col;                // column-sum counters and partials (the bias gradients)
    DeviceBuffer ce;                 // cross-entropy targets | weights | losses
    DeviceBuffer ss;                 // sum_squares' result | partials
    DeviceBuffer ones;               // ones(): bf16 ones (the unfused bias gradients)
    DeviceBuffer rope;               // rope_table(): (cos, sin) of rope_freq_host_
    PositionCache pos[2];            // row_positions(): the last two batches'
    DeviceBuffer adamw_table;        // adamw_tensors': [tensors | chunks] of adamw_key_
  };
  Scratch scratch_;
  std::vector<float> inv_freq_host_;   // what scratch_.inv_freq holds
  std::vector<float> rope_freq_host_;  // the frequencies of scratch_.rope
  int64_t rope_positions_ = 0;
  bool round_allocations_ = false;  // alloc() takes pool_size(bytes) (training)
  // adamw_tensors' table (scratch_.adamw_table): the tensor list it holds, the bytes of its
  // tensor part, its chunks.
  size_t adamw_tensor_bytes_ = 0;
  int64_t adamw_chunks_ = 0;
  std::vector<AdamWTensor> adamw_key_;
  int pos_next_ = 0;
};

}  // namespace rcc::cuda
