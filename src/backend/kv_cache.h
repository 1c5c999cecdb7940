// Per-sequence key/value cache of a GPT-NeoX model: for each layer K and V of every position seen
// so far, laid out [position, heads, head_dim] so that new positions append whole rows. The storage
// lives on a backend (backend/backend.h): f32 on the CPU; bf16 on CUDA, or int8 with one f32 absmax
// scale per (position, head) — k_scale/v_scale [capacity, heads] — when built with `eight_bit`.
//
// A cache may continue a shared, read-only *prefix* cache (continuing()): positions
// [0, prefix_length()) are read from the prefix (e.g. an RCC memory prefix that many questions
// share, held once), later ones live in this cache's own storage, whose row 0 is position
// prefix_length(). k_data/v_data/k/v/scales always address the own storage.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"

namespace rcc {

class KVCache {
 public:
  KVCache() = default;
  // A CPU (f32) cache. `share_layers`: every layer uses one buffer (a scratch cache for a single
  // forward pass from position 0 whose keys/values are not needed afterwards, e.g. an RCC encoder
  // window).
  KVCache(int64_t layers, int64_t heads, int64_t head_dim, bool share_layers = false)
      : KVCache(cpu_backend(), layers, heads, head_dim, share_layers) {}
  KVCache(Backend& be, int64_t layers, int64_t heads, int64_t head_dim, bool share_layers = false,
          bool eight_bit = false);
  // A cache (same backend, shape and element type) whose first prefix.length() positions are
  // `prefix`'s, shared read-only: the prefix must outlive it and keep those positions unchanged.
  // `keep` (optional) is held as long as this cache or a copy of it lives (the prefix's owner).
  static KVCache continuing(const KVCache& prefix, std::shared_ptr<const void> keep = nullptr);
  KVCache(const KVCache& o);  // deep copy of the own positions (the prefix stays shared)
  KVCache& operator=(const KVCache& o);
  KVCache(KVCache&&) noexcept = default;
  KVCache& operator=(KVCache&&) noexcept = default;

  int64_t length() const { return length_; }      // positions already cached (prefix included)
  int64_t capacity() const { return capacity_; }  // positions that fit (prefix included)
  // The shared prefix (null if none) and its length: the first own row's position.
  const KVCache* prefix() const { return prefix_; }
  int64_t prefix_length() const { return offset_; }
  int64_t own_length() const { return length_ - offset_; }
  int64_t layers() const { return layers_; }
  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t width() const { return heads_ * head_dim_; }  // heads · head_dim
  DType dtype() const { return dtype_; }
  Backend& backend() const { return *be_; }
  bool shared_layers() const { return shared_; }

  // Makes room for `n` positions in total (keeps the contents). Grows by at least half the current
  // capacity so that token-by-token decoding reallocates rarely; reserve the final size up front
  // where it is known (a memory prefix) to keep device memory tight.
  void reserve(int64_t n);
  // Device pointers of layer `layer`'s own storage ([capacity - prefix_length(), heads, head_dim]
  // of dtype(); row i holds position prefix_length() + i).
  void* k_data(int64_t layer) { return k_[slot(layer)].get(); }
  void* v_data(int64_t layer) { return v_[slot(layer)].get(); }
  const void* k_data(int64_t layer) const { return k_[slot(layer)].get(); }
  const void* v_data(int64_t layer) const { return v_[slot(layer)].get(); }
  // Int8 caches only: f32 scales [capacity, heads].
  float* k_scale(int64_t layer) const;
  float* v_scale(int64_t layer) const;
  // Host f32 views (CPU caches only; checked).
  float* k(int64_t layer) { return host_f32(k_[slot(layer)]); }
  float* v(int64_t layer) { return host_f32(v_[slot(layer)]); }
  const float* k(int64_t layer) const { return host_f32(k_[slot(layer)]); }
  const float* v(int64_t layer) const { return host_f32(v_[slot(layer)]); }
  // Called by the model once all layers have written `n` new positions.
  void advance(int64_t n) { length_ += n; }
  // Forget everything after the first `n` positions (n >= prefix_length()).
  void truncate(int64_t n);
  // Bytes held in own storage (all layers, keys, values and scales; a shared prefix is its
  // owner's).
  size_t bytes() const;

 private:
  size_t slot(int64_t layer) const { return shared_ ? 0 : size_t(layer); }
  float* host_f32(const DeviceBuffer& b) const;
  size_t row_bytes() const { return size_t(width()) * dtype_size(dtype_); }

  Backend* be_ = nullptr;
  int64_t layers_ = 0, heads_ = 0, head_dim_ = 0, length_ = 0, capacity_ = 0;
  const KVCache* prefix_ = nullptr;
  int64_t offset_ = 0;                // prefix positions (0 without a prefix)
  std::shared_ptr<const void> keep_;  // keeps the prefix's owner alive (may be null)
  bool shared_ = false;
  DType dtype_ = DType::F32;
  std::vector<DeviceBuffer> k_, v_, ks_, vs_;
};

}  // namespace rcc
