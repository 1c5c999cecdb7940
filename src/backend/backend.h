// Compute backends (CPU, CUDA): where activations, weights and KV caches live and who runs the ops.
//
// The model code (model/gptneox.cpp, rcc/compressor.cpp, rcc/decoder_memory.cpp) is written once
// against this interface; a backend only supplies memory and the individual ops. "Device pointers"
// below are pointers into the backend's memory (plain host pointers on the CPU backend). Activation
// buffers hold elements of act_dtype(): F32 on the CPU, BF16 on CUDA (f32 accumulation inside every
// op). Weights are prepared once per backend (prepare_weight): the CPU backend computes with the
// checkpoint tensors as they are (f32, bf16 or f16, often mapped), CUDA copies them to the device
// in bf16 (vectors — layer norms and biases — in f32).
//
// Every op is enqueued in order on the backend's single stream; results reach the host only through
// copy_to_host / download_f32 / linear_f32_host, which synchronise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace rcc {

class KVCache;

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

  // ---- weights ----
  // The tensor as this backend computes with it: 2-D tensors (matrices, embeddings) in the
  // backend's matrix dtype, 1-D tensors (norm weights, biases) in f32. The CPU returns `host`.
  virtual Tensor prepare_weight(const Tensor& host) = 0;

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
  // y[rows, N] = x[rows, K] · W[N, K]^T (+ bias) (+ y when accumulate).
  virtual void linear(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
                      bool accumulate) = 0;
  // As linear without bias, the result in f32 on the host (the LM head: logits for sampling).
  virtual void linear_f32_host(const void* x, int64_t rows, const Tensor& W, float* y_host) = 0;
  // Exact GELU in place; y += x.
  virtual void gelu(void* x, int64_t n) = 0;
  virtual void add(void* y, const void* x, int64_t n) = 0;
  // qkv: [rows, heads, 3, hd] (GPT-NeoX fused layout), rows at positions pos0 + r. Rotates the
  // first `rot` dims of q and k of every head (rotate-half, angle pos · base^(-2i/rot), RCC_SPEC
  // §1), writes q to q_out [rows, heads·hd] and k, v to positions pos0.. of layer `layer` of
  // `cache` (which has room: the model reserves before the pass). qkv may be overwritten.
  virtual void qkv_to_cache(void* qkv, int64_t rows, int64_t heads, int64_t hd, int64_t rot,
                            double base, int64_t pos0, KVCache& cache, int64_t layer,
                            void* q_out) = 0;
  // Causal attention: query r (row r of q [rows, heads·hd]) sits at position past + r and attends
  // to cached positions [0, past + r] of layer `layer`; scale 1/sqrt(hd). out [rows, heads·hd].
  virtual void attention(const void* q, int64_t rows, int64_t past, const KVCache& cache,
                         int64_t layer, void* out) = 0;
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

}  // namespace rcc
