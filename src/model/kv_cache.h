// Per-sequence key/value cache of a GPT-NeoX model: for each layer K and V of every position seen so
// far, f32, laid out [position, heads, head_dim] so that new positions append whole rows.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcc {

class KVCache {
 public:
  KVCache() = default;
  // `share_layers`: every layer uses one buffer (a scratch cache for a single forward pass from
  // position 0 whose keys/values are not needed afterwards, e.g. an RCC encoder window).
  KVCache(int64_t layers, int64_t heads, int64_t head_dim, bool share_layers = false)
      : layers_(layers), width_(heads * head_dim), shared_(share_layers),
        k_(share_layers ? 1 : size_t(layers)), v_(share_layers ? 1 : size_t(layers)) {}

  int64_t length() const { return length_; }   // positions already cached
  int64_t layers() const { return layers_; }
  int64_t width() const { return width_; }     // heads · head_dim

  // Makes room for `n` positions in total (keeps the contents).
  void reserve(int64_t n);
  float* k(int64_t layer) { return k_[shared_ ? 0 : size_t(layer)].data(); }
  float* v(int64_t layer) { return v_[shared_ ? 0 : size_t(layer)].data(); }
  const float* k(int64_t layer) const { return k_[shared_ ? 0 : size_t(layer)].data(); }
  const float* v(int64_t layer) const { return v_[shared_ ? 0 : size_t(layer)].data(); }
  bool shared_layers() const { return shared_; }
  // Called by the model once all layers have written `n` new positions.
  void advance(int64_t n) { length_ += n; }
  // Forget everything after the first `n` positions.
  void truncate(int64_t n);
  size_t bytes() const { return size_t(capacity_) * size_t(width_) * 2 * k_.size() * 4; }

 private:
  int64_t layers_ = 0, width_ = 0, length_ = 0, capacity_ = 0;
  bool shared_ = false;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace rcc
