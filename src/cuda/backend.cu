// CudaBackend: the Backend interface (backend/backend.h) on one GPU. One stream orders all work;
// device memory comes from a private stream-ordered pool (cudaMallocFromPoolAsync) that keeps freed
// blocks for reuse; weights are separate cudaMalloc blocks owned by their tensors. Small host →
// device uploads go through a pinned staging ring so that the caller's buffer is free on return.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/kv_cache.h"
#include "core/dtype.h"
#include "core/settings.h"
#include "cuda/backend.h"
#include "cuda/backend_impl.h"
#include "cuda/gemm.h"
#include "cuda/kernels.h"
#include "cuda/train_kernels.h"

namespace rcc {
namespace cuda {

void throw_cuda_error(cudaError_t e, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so the next call does not see it
  throw Error(str_cat("CUDA error: ", call, " failed (", file, ":", line,
                      "): ", cudaGetErrorName(e), ": ", cudaGetErrorString(e)));
}

void throw_cublas_error(cublasStatus_t s, const char* call, const char* file, int line) {
  throw Error(
      str_cat("cuBLAS error: ", call, " failed (", file, ":", line, "): ", cublas_status_text(s)));
}

}  // namespace cuda

namespace cuda {

CudaBackend::CudaBackend(int device) : dev_(device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail("CUDA: no usable GPU (", cudaGetErrorString(e), ")");
  }
  RCC_CHECK(device >= 0 && device < count, "CUDA: device ", device, " does not exist (", count,
            " visible)");
  RCC_CUDA_CHECK(cudaSetDevice(dev_));
  cudaDeviceProp prop{};
  RCC_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev_));
  name_ = str_cat("cuda:", dev_, " ", prop.name);
  num_sms_ = prop.multiProcessorCount;
  RCC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  RCC_CUDA_CHECK(cudaEventCreateWithFlags(&stage_event_, cudaEventDisableTiming));

  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = dev_;
  RCC_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
  uint64_t threshold = UINT64_MAX;  // keep freed blocks for reuse instead of returning them
  RCC_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));

  // The switches read when a backend is made (core/settings.h; the GEMM's in Gemm's constructor).
  gemm_ = std::make_unique<cuda::Gemm>(stream_);
  fused_ = runtime_settings().cuda_fused;
  alloc_log_ = runtime_settings().cuda_alloc_log;
}

CudaBackend::~CudaBackend() {
  // Best effort: the process may be exiting with the runtime half torn down.
  cudaSetDevice(dev_);
  cudaStreamSynchronize(stream_);
  gemm_.reset();
  scratch_ = Scratch{};  // every scratch buffer released (to the pool or the block cache)
  flush_block_cache();
  cudaStreamSynchronize(stream_);
  if (stage_) cudaFreeHost(stage_);
  cudaMemPoolTrimTo(pool_, 0);
  cudaMemPoolDestroy(pool_);  // released once outstanding blocks are freed
  cudaEventDestroy(stage_event_);
  cudaStreamDestroy(stream_);
}

// With round_allocations(true) (the trainer), sizes of 4 MiB and more are rounded up to one of 16
// steps per power of two, steps of at most 64 MiB (at most 6.25% and 64 MiB more): a training
// step's buffers change size slightly with every batch (window and answer lengths), and a request
// that no freed block of the pool fits makes it map new memory, which stalls the host for
// milliseconds per allocation with the GPU idle (bench/results/training_gpu.md). Rounded sizes
// recur, so the pool's freed blocks serve them. Inference leaves it off, because the rounding
// raises its peak memory at long contexts (bench/experiments/pool-size-classes-everywhere.md).
size_t CudaBackend::pool_size(size_t bytes) {
  constexpr size_t kMin = size_t(4) << 20, kMaxStep = size_t(64) << 20;
  constexpr size_t kSteps = 16;                                 // sizes per power of two
  if (bytes < kMin || bytes > (size_t(1) << 60)) return bytes;  // absurd sizes fail as asked
  size_t pow2 = kMin;
  while (pow2 <= bytes / 2) pow2 *= 2;  // the largest power of two <= bytes
  const size_t step = std::min(pow2 / kSteps, kMaxStep);
  return (bytes + step - 1) / step * step;
}

CudaBackend::PoolUse CudaBackend::pool_use() const {
  PoolUse u;
  uint64_t v = 0;  // the attributes are cuuint64_t (64-bit unsigned)
  if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &v) == cudaSuccess)
    u.reserved = v;
  if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &v) == cudaSuccess) u.used = v;
  return u;
}

// RCC_CUDA_ALLOC_LOG=1: every pool allocation that took 50 us or more of host time (the pool
// mapping new memory: the GPU drains meanwhile) on stderr, with the pool's reserved and used bytes
// before and after.
void CudaBackend::log_slow_alloc(size_t requested, size_t bytes, const PoolUse& before,
                                 std::chrono::steady_clock::time_point t0) const {
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  if (us < 50) return;
  const PoolUse after = pool_use();
  std::fprintf(stderr,
               "cuda alloc: %zu bytes (%zu requested) took %.0f us; pool reserved %.1f -> %.1f "
               "MiB, used %.1f -> %.1f MiB\n",
               bytes, requested, us, before.reserved / 1048576.0, after.reserved / 1048576.0,
               before.used / 1048576.0, after.used / 1048576.0);
}

// Training's large blocks kept by size (round_allocations: the sizes are the rounded classes, so
// a step's buffers recur exactly). A freed large block handed back to the pool would be split by
// the next step's smaller requests, and the pool would then serve the large request by remapping
// physical pages into a new address range, costing host time with the GPU idle (RCC_CUDA_ALLOC_LOG
// shows such allocations; bench/results/training_gpu.md). All work is on the backend's one
// stream, so a block taken from the cache is used after everything its last owner enqueued, as
// with the pool's own stream-ordered reuse. Bounded: at most kCachedBlocks blocks, and their total
// at most a quarter of the bytes in use (at least kCacheFloor); the oldest go back to the pool
// first, and all of them before an allocation is declared out of memory.
void* CudaBackend::take_cached_block(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = block_cache_.begin(); it != block_cache_.end(); ++it)
    if (it->bytes == bytes) {
      void* p = it->p;
      cached_bytes_ -= bytes;
      block_cache_.erase(it);
      sizes_[p] = bytes;
      return p;
    }
  return nullptr;
}

bool CudaBackend::cache_block(void* p, size_t bytes) noexcept {
  if (!round_allocations_ || bytes < kCacheMin) return false;
  std::vector<void*> evicted;
  try {
    evicted.reserve(kCachedBlocks + 1);  // the evictions below then cannot throw
    std::lock_guard<std::mutex> lock(mu_);
    block_cache_.push_back({p, bytes});
    cached_bytes_ += bytes;
    const size_t limit =
        std::max(kCacheFloor, size_t(std::max<int64_t>(0, stats_->live.load())) / 4);
    while (!block_cache_.empty() &&
           (block_cache_.size() > kCachedBlocks || cached_bytes_ > limit)) {
      evicted.push_back(block_cache_.front().p);
      cached_bytes_ -= block_cache_.front().bytes;
      block_cache_.erase(block_cache_.begin());
    }
  } catch (...) {  // no memory for the bookkeeping: the block goes back to the pool
    return false;
  }
  for (void* q : evicted)
    if (cudaFreeAsync(q, stream_) != cudaSuccess) (void)cudaGetLastError();
  return true;
}

void CudaBackend::flush_block_cache() noexcept {
  std::vector<CachedBlock> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(block_cache_);
    cached_bytes_ = 0;
  }
  if (blocks.empty()) return;
  cudaSetDevice(dev_);
  for (const CachedBlock& b : blocks)
    if (cudaFreeAsync(b.p, stream_) != cudaSuccess) (void)cudaGetLastError();
}

void CudaBackend::round_allocations(bool on) {
  round_allocations_ = on;
  if (!on) flush_block_cache();
}

void* CudaBackend::alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  use();
  const size_t requested = bytes;
  if (round_allocations_) bytes = pool_size(bytes);
  if (round_allocations_ && bytes >= kCacheMin)
    if (void* c = take_cached_block(bytes)) {
      stats_->add(int64_t(bytes));
      return c;
    }
  void* p = nullptr;
  const bool log = alloc_log_;
  const PoolUse before = log ? pool_use() : PoolUse{};
  const auto t0 = std::chrono::steady_clock::now();
  cudaError_t e = cudaMallocFromPoolAsync(&p, bytes, pool_, stream_);
  if (log) log_slow_alloc(requested, bytes, before, t0);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    // Blocks freed on the stream but not yet reusable, or memory cached by the pool that
    // cudaMalloc'd weights could use: settle and retry once (the cached blocks given back first).
    flush_block_cache();
    cudaStreamSynchronize(stream_);
    e = cudaMallocFromPoolAsync(&p, bytes, pool_, stream_);
  }
  if (e != cudaSuccess) out_of_memory(e, requested);
  {
    std::lock_guard<std::mutex> lock(mu_);
    sizes_[p] = bytes;
  }
  stats_->add(int64_t(bytes));
  return p;
}

void CudaBackend::release(void* p) noexcept {
  if (!p) return;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it != sizes_.end()) {
      bytes = it->second;
      sizes_.erase(it);
    }
  }
  cudaSetDevice(dev_);
  stats_->sub(int64_t(bytes));
  if (cache_block(p, bytes)) return;
  if (cudaFreeAsync(p, stream_) != cudaSuccess) (void)cudaGetLastError();
}

void CudaBackend::copy_to_device(void* dst, const void* host_src, size_t bytes) {
  use();
  const char* src = static_cast<const char*>(host_src);
  char* d = static_cast<char*>(dst);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(kStageChunk, bytes - done);
    void* st = stage(n);
    std::memcpy(st, src + done, n);
    staged_copy(d + done, st, n);
    done += n;
  }
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  use();
  RCC_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  use();
  RCC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                            size_t row_bytes, int64_t rows) {
  if (rows <= 0 || row_bytes == 0) return;
  use();
  RCC_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, size_t(rows),
                                   cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() {
  use();
  RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Tensor CudaBackend::prepare_weight(const Tensor& host) {
  RCC_CHECK(host.defined() || host.numel() == 0, "CUDA prepare_weight: undefined tensor");
  // q8 matrices (ops/quant.h) run in bf16 on the GPU: dequantized on the host first.
  if (host.quantized()) return prepare_weight(host.to(DType::BF16));
  const DType st = host.dtype();
  RCC_CHECK(st == DType::F32 || st == DType::F16 || st == DType::BF16,
            "CUDA prepare_weight: tensor of type ", dtype_name(st), " (F32, F16 or BF16 expected)");
  RCC_CHECK(host.ndim() == 1 || host.ndim() == 2, "CUDA prepare_weight: tensor of shape ",
            shape_str(host.shape()), " (1-D or 2-D expected)");
  use();
  const int64_t n = host.numel();
  if (host.ndim() == 1) {  // norm weights, biases: f32
    const size_t bytes = size_t(n) * 4;
    auto [dev, keep] = weight_alloc(bytes);
    std::vector<float> f(static_cast<size_t>(n));
    if (n) {
      convert_to_f32(st, host.raw(), f.data(), size_t(n));
      RCC_CUDA_CHECK(cudaMemcpyAsync(dev, f.data(), bytes, cudaMemcpyHostToDevice, stream_));
      RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before `f` goes
    }
    return Tensor::borrow(DType::F32, host.shape(), dev, keep);
  }
  // Matrices: bf16. Raw blocks go to a device staging buffer and are converted there.
  const size_t bytes = size_t(n) * 2;
  auto [dev, keep] = weight_alloc(bytes);
  bf16* out = static_cast<bf16*>(dev);
  if (st == DType::BF16) {
    if (n) RCC_CUDA_CHECK(cudaMemcpyAsync(dev, host.raw(), bytes, cudaMemcpyHostToDevice, stream_));
  } else if (n) {
    // All on the stream: the copy of block i+1 into the staging buffer waits for the
    // conversion of block i. The host tensor outlives the final synchronisation.
    const size_t esz = dtype_size(st);
    const int64_t block = int64_t(kStageChunk / esz);
    DeviceBuffer staging(*this, size_t(std::min<int64_t>(n, block)) * esz);
    const char* src = static_cast<const char*>(host.raw());
    for (int64_t i = 0; i < n; i += block) {
      const int64_t m = std::min(block, n - i);
      RCC_CUDA_CHECK(cudaMemcpyAsync(staging.get(), src + size_t(i) * esz, size_t(m) * esz,
                                     cudaMemcpyHostToDevice, stream_));
      cuda::launch_convert_to_bf16(st, staging.get(), out + i, m, stream_);
    }
  }
  RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return Tensor::borrow(DType::BF16, host.shape(), dev, keep);
}

void CudaBackend::upload_f32(const float* host, int64_t n, void* dev) {
  use();
  bf16* d = static_cast<bf16*>(dev);
  const int64_t block = int64_t(kStageChunk / 2);
  for (int64_t i = 0; i < n; i += block) {
    const int64_t m = std::min(block, n - i);
    uint16_t* st = static_cast<uint16_t*>(stage(size_t(m) * 2));
    for (int64_t j = 0; j < m; ++j) st[j] = f32_to_bf16(host[i + j]);
    staged_copy(d + i, st, size_t(m) * 2);
  }
}

void CudaBackend::download_f32(const void* dev, int64_t n, float* host) {
  use();
  const bf16* d = static_cast<const bf16*>(dev);
  const int64_t block = int64_t(kStageChunk / 2);
  for (int64_t i = 0; i < n; i += block) {
    const int64_t m = std::min(block, n - i);
    uint16_t* st = static_cast<uint16_t*>(stage(size_t(m) * 2));
    RCC_CUDA_CHECK(cudaMemcpyAsync(st, d + i, size_t(m) * 2, cudaMemcpyDeviceToHost, stream_));
    RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int64_t j = 0; j < m; ++j) host[i + j] = bf16_to_f32(st[j]);
  }
}

void CudaBackend::embed(const Tensor& table, const int32_t* ids_host, int64_t n, void* out) {
  if (n <= 0) return;
  check_matrix(table, "embed table");
  use();
  int32_t* ids = static_cast<int32_t*>(upload_index(ids_host, size_t(n) * sizeof(int32_t)));
  cuda::launch_embed(static_cast<const bf16*>(table.raw()), table.dim(1), ids, n,
                     static_cast<bf16*>(out), stream_);
}

void CudaBackend::gather_rows(const void* src, int64_t src_stride, const int64_t* idx_host,
                              int64_t n, int64_t width, void* dst, int64_t dst_stride) {
  if (n <= 0 || width <= 0) return;
  use();
  int64_t* idx = static_cast<int64_t*>(upload_index(idx_host, size_t(n) * sizeof(int64_t)));
  cuda::launch_gather_rows(static_cast<const bf16*>(src), src_stride, idx, n, width,
                           static_cast<bf16*>(dst), dst_stride, stream_);
}

void CudaBackend::layer_norm(const void* x, int64_t rows, int64_t H, const Tensor& w,
                             const Tensor& b, float eps, void* y) {
  check_vector(w, H, "layer_norm weight");
  check_vector(b, H, "layer_norm bias");
  use();
  cuda::launch_layer_norm(static_cast<const bf16*>(x), rows, H, static_cast<const float*>(w.raw()),
                          static_cast<const float*>(b.raw()), eps, static_cast<bf16*>(y), stream_);
}

void CudaBackend::layer_norm_pair(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                  const Tensor& b1, const Tensor& w2, const Tensor& b2, float eps,
                                  void* y1, void* y2, void* x_copy) {
  if (!fused_) {
    Backend::layer_norm_pair(x, rows, H, w1, b1, w2, b2, eps, y1, y2, x_copy);
    return;
  }
  check_vector(w1, H, "layer_norm weight");
  check_vector(b1, H, "layer_norm bias");
  check_vector(w2, H, "layer_norm weight");
  check_vector(b2, H, "layer_norm bias");
  use();
  auto f = [](const Tensor& t) { return static_cast<const float*>(t.raw()); };
  cuda::launch_layer_norm_pair(static_cast<const bf16*>(x), rows, H, f(w1), f(b1), f(w2), f(b2),
                               eps, static_cast<bf16*>(y1), static_cast<bf16*>(y2),
                               static_cast<bf16*>(x_copy), stream_);
}

void CudaBackend::linear(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
                         bool accumulate) {
  if (W.dtype() == DType::F8_E4M3) return linear_fp8(x, rows, W, bias, y, accumulate);
  check_matrix(W, "linear weight");
  if (bias) check_vector(*bias, W.dim(0), "linear bias");
  use();
  gemm_->run(static_cast<const bf16*>(x), rows, W.dim(1), static_cast<const bf16*>(W.raw()),
             W.dim(0), bias ? static_cast<const float*>(bias->raw()) : nullptr, y, false,
             accumulate);
}

void CudaBackend::linear_f32_host(const void* x, int64_t rows, const Tensor& W, float* y_host) {
  check_matrix(W, "linear weight");
  if (rows <= 0) return;
  use();
  const int64_t N = W.dim(0);
  const size_t bytes = size_t(rows * N) * 4;
  grow(scratch_.f32_out, bytes);
  gemm_->run(static_cast<const bf16*>(x), rows, W.dim(1), static_cast<const bf16*>(W.raw()), N,
             nullptr, scratch_.f32_out.get(), true, false);
  copy_to_host(y_host, scratch_.f32_out.get(), bytes);
}

void CudaBackend::rms_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                           void* y) {
  check_vector(w, H, "rms_norm weight");
  use();
  cuda::launch_rms_norm(static_cast<const bf16*>(x), static_cast<bf16*>(y), rows, 1, int(H), H,
                        static_cast<const float*>(w.raw()), eps, stream_);
}

void CudaBackend::head_rms_norm(void* qkv, int64_t rows, const AttentionShape& s, const Tensor& qw,
                                const Tensor& kw, float eps) {
  RCC_CHECK(!s.interleaved, "CUDA head_rms_norm: the blocked qkv layout only");
  check_vector(qw, s.hd, "q_norm weight");
  check_vector(kw, s.hd, "k_norm weight");
  use();
  bf16* q = static_cast<bf16*>(qkv);
  bf16* k = q + s.q_width();  // the key heads follow the query heads in every row
  cuda::launch_rms_norm(q, q, rows, int(s.heads), int(s.hd), s.qkv_width(),
                        static_cast<const float*>(qw.raw()), eps, stream_);
  cuda::launch_rms_norm(k, k, rows, int(s.kv_heads), int(s.hd), s.qkv_width(),
                        static_cast<const float*>(kw.raw()), eps, stream_);
}

void CudaBackend::swiglu(const void* gu, int64_t rows, int64_t I, void* y) {
  use();
  cuda::launch_swiglu(static_cast<const bf16*>(gu), rows, I, static_cast<bf16*>(y), stream_);
}

void CudaBackend::gelu(const void* x, void* y, int64_t n) {
  use();
  cuda::launch_gelu(static_cast<const bf16*>(x), static_cast<bf16*>(y), n, stream_);
}

void CudaBackend::add(void* y, const void* x, int64_t n) {
  use();
  cuda::launch_add(static_cast<bf16*>(y), static_cast<const bf16*>(x), n, stream_);
}

[[noreturn]] void CudaBackend::out_of_memory(cudaError_t e, size_t bytes) {
  (void)cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  (void)cudaGetLastError();
  fail("CUDA out of memory on ", name_, ": could not allocate ", bytes, " bytes (",
       double(bytes) / (1 << 20), " MiB; ", double(free_b) / (1 << 20), " MiB free of ",
       double(total_b) / (1 << 20), " MiB, ", double(stats_->live.load()) / (1 << 20),
       " MiB held by rcc): ", cudaGetErrorString(e));
}

std::pair<void*, std::shared_ptr<void>> CudaBackend::weight_alloc(size_t bytes) {
  const size_t n = std::max<size_t>(bytes, 256);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    flush_block_cache();
    cudaStreamSynchronize(stream_);
    cudaMemPoolTrimTo(pool_, 0);  // return the pool's cached free blocks to the device
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) out_of_memory(e, n);
  stats_->add(int64_t(n));
  std::shared_ptr<MemStats> stats = stats_;
  std::shared_ptr<void> keep(p, [stats, n](void* q) {
    if (cudaFree(q) != cudaSuccess) (void)cudaGetLastError();  // e.g. cudaErrorCudartUnloading
    stats->sub(int64_t(n));
  });
  return {p, std::move(keep)};
}

void CudaBackend::grow(DeviceBuffer& b, size_t bytes) {
  if (b.get() && b.bytes() >= bytes) return;
  b.ensure(*this, std::max(bytes, b.bytes() * 3 / 2));  // releases the old block, then allocates
}

void* CudaBackend::stage(size_t bytes) {
  const size_t need = (bytes + 255) / 256 * 256;
  if (need > stage_cap_) {
    wait_staged();
    if (stage_) RCC_CUDA_CHECK(cudaFreeHost(stage_));
    stage_ = nullptr;
    stage_cap_ = 0;
    const size_t cap = std::max<size_t>(need, size_t(4) << 20);
    RCC_CUDA_CHECK(cudaMallocHost(&stage_, cap));
    stage_cap_ = cap;
    stage_off_ = 0;
  } else if (stage_off_ + need > stage_cap_) {
    wait_staged();  // every earlier staged copy has run: the whole ring is free
    stage_off_ = 0;
  }
  void* p = static_cast<char*>(stage_) + stage_off_;
  stage_off_ += need;
  return p;
}

void CudaBackend::staged_copy(void* dst, const void* staged, size_t bytes) {
  RCC_CUDA_CHECK(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, stream_));
  RCC_CUDA_CHECK(cudaEventRecord(stage_event_, stream_));
  stage_pending_ = true;
}

void CudaBackend::wait_staged() {
  if (stage_pending_) RCC_CUDA_CHECK(cudaEventSynchronize(stage_event_));
  stage_pending_ = false;
}

const bf16* CudaBackend::ones(int64_t n) {
  DeviceBuffer& b = scratch_.ones;
  if (b.get() && int64_t(b.bytes() / 2) >= n) return static_cast<const bf16*>(b.get());
  const int64_t cap = std::max<int64_t>(n, 4096);
  std::vector<uint16_t> h(static_cast<size_t>(cap), 0x3F80);  // bf16 1.0
  b.ensure(*this, size_t(cap) * 2);  // larger than before: released, then allocated
  copy_to_device(b.get(), h.data(), size_t(cap) * 2);
  return static_cast<const bf16*>(b.get());
}

// The device buffers are only ever written here, in stream order: an array found in the cache is
// on the device for every later kernel, and a replaced entry is overwritten after every earlier
// kernel that read it.
void* CudaBackend::upload_index(const void* host, size_t bytes) {
  ++index_clock_;
  IndexUpload* lru = &scratch_.index[0];
  for (IndexUpload& u : scratch_.index) {
    if (u.dev.get() && u.host.size() == bytes && std::memcmp(u.host.data(), host, bytes) == 0) {
      u.last_use = index_clock_;
      return u.dev.get();
    }
    if (u.last_use < lru->last_use) lru = &u;
  }
  lru->host.clear();  // invalid until the upload below has been enqueued
  grow(lru->dev, bytes);
  void* st = stage(bytes);
  std::memcpy(st, host, bytes);
  staged_copy(lru->dev.get(), st, bytes);
  const char* h = static_cast<const char*>(host);
  lru->host.assign(h, h + bytes);
  lru->last_use = index_clock_;
  return lru->dev.get();
}

const float* CudaBackend::inv_freq(const Rope& rope) {
  if (rope.dims < 2) return nullptr;
  DeviceBuffer& b = scratch_.inv_freq;
  if (b.get() && rope.inv_freq == inv_freq_host_) return static_cast<const float*>(b.get());
  const size_t bytes = rope.inv_freq.size() * 4;
  grow(b, bytes);
  void* st = stage(bytes);
  std::memcpy(st, rope.inv_freq.data(), bytes);
  staged_copy(b.get(), st, bytes);
  inv_freq_host_ = rope.inv_freq;
  return static_cast<const float*>(b.get());
}

const float* CudaBackend::rope_table(int64_t positions, const Rope& rope) {
  if (rope.dims < 2) return nullptr;
  DeviceBuffer& b = scratch_.rope;
  if (b.get() && rope.inv_freq == rope_freq_host_ && positions <= rope_positions_)
    return static_cast<const float*>(b.get());
  const int64_t half = rope.dims / 2;
  const int64_t cap = std::max<int64_t>({positions, 2 * rope_positions_, 2048});
  std::vector<float> t(static_cast<size_t>(cap * half * 2));
  for (int64_t p = 0; p < cap; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float ang = float(p) * rope.inv_freq[size_t(i)];
      t[size_t((p * half + i) * 2)] = float(std::cos(double(ang)));
      t[size_t((p * half + i) * 2 + 1)] = float(std::sin(double(ang)));
    }
  b.reset();  // then exactly the table's size
  b.ensure(*this, t.size() * 4);
  copy_to_device(b.get(), t.data(), t.size() * 4);
  rope_positions_ = cap;
  rope_freq_host_ = rope.inv_freq;
  return static_cast<const float*>(b.get());
}

void CudaBackend::check_window(const AttentionShape& s, int64_t end_position) {
  RCC_CHECK(s.window == 0 || end_position <= s.window, "CUDA attention: a sliding window of ",
            s.window, " positions does not fit the CUDA kernels yet (", end_position,
            " positions here; the CPU computes it)");
}

void CudaBackend::check_matrix(const Tensor& W, const char* what) {
  RCC_CHECK(W.defined() && W.ndim() == 2 && W.dtype() == DType::BF16, "CUDA: ", what,
            " must be a prepared 2-D bf16 device tensor (got ", dtype_name(W.dtype()), " ",
            shape_str(W.shape()), "; use prepare_weight)");
}

void CudaBackend::check_vector(const Tensor& v, int64_t n, const char* what) {
  RCC_CHECK(v.defined() && v.ndim() == 1 && v.dtype() == DType::F32 && v.dim(0) == n,
            "CUDA: ", what, " must be a prepared f32 device vector of ", n, " (got ",
            dtype_name(v.dtype()), " ", shape_str(v.shape()), ")");
}

void CudaBackend::check_cache(const KVCache& c, int64_t heads, int64_t hd, int64_t end,
                              int64_t layer) const {
  RCC_CHECK(&c.backend() == this, "CUDA: KV cache lives on ", c.backend().name(), ", not ", name_);
  RCC_CHECK(c.dtype() == DType::BF16 || c.dtype() == DType::I8, "CUDA: KV cache of type ",
            dtype_name(c.dtype()));
  RCC_CHECK(c.heads() == heads && c.head_dim() == hd, "CUDA: KV cache has ", c.heads(), " x ",
            c.head_dim(), " heads, the call ", heads, " x ", hd);
  RCC_CHECK(layer >= 0 && layer < c.layers(), "CUDA: KV cache layer ", layer, " of ", c.layers());
  RCC_CHECK(end <= c.capacity(), "CUDA: KV cache holds ", c.capacity(), " positions, ", end,
            " needed (reserve first)");
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device_index) {
  return std::make_unique<cuda::CudaBackend>(device_index);
}

void* cuda_backend_stream(Backend& be) {
  auto* c = dynamic_cast<cuda::CudaBackend*>(&be);
  RCC_CHECK(c != nullptr, "cuda_backend_stream: ", be.name(), " is not a CUDA backend");
  return c->stream();
}

}  // namespace rcc
