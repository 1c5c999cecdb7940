#include "backend/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace rcc {

KVCache::KVCache(Backend& be, int64_t layers, int64_t heads, int64_t head_dim, bool share_layers,
                 bool eight_bit)
    : be_(&be),
      layers_(layers),
      heads_(heads),
      head_dim_(head_dim),
      shared_(share_layers),
      dtype_(be.kv_dtype(eight_bit)) {
  const size_t n = share_layers ? 1 : size_t(layers);
  k_.resize(n);
  v_.resize(n);
  if (dtype_ == DType::I8) {
    ks_.resize(n);
    vs_.resize(n);
  }
}

KVCache KVCache::continuing(const KVCache& prefix, std::shared_ptr<const void> keep) {
  RCC_CHECK(prefix.be_ != nullptr && !prefix.shared_ && prefix.prefix_ == nullptr,
            "KVCache: only a plain cache can be continued");
  KVCache c;
  c.be_ = prefix.be_;
  c.layers_ = prefix.layers_;
  c.heads_ = prefix.heads_;
  c.head_dim_ = prefix.head_dim_;
  c.dtype_ = prefix.dtype_;
  c.k_.resize(prefix.k_.size());
  c.v_.resize(prefix.v_.size());
  c.ks_.resize(prefix.ks_.size());
  c.vs_.resize(prefix.vs_.size());
  c.prefix_ = &prefix;
  c.offset_ = c.length_ = c.capacity_ = prefix.length_;
  c.keep_ = std::move(keep);
  return c;
}

KVCache::KVCache(const KVCache& o) {
  *this = o;
}

KVCache& KVCache::operator=(const KVCache& o) {
  if (this == &o) return *this;
  be_ = o.be_;
  layers_ = o.layers_;
  heads_ = o.heads_;
  head_dim_ = o.head_dim_;
  shared_ = o.shared_;
  dtype_ = o.dtype_;
  prefix_ = o.prefix_;
  offset_ = o.offset_;
  keep_ = o.keep_;
  length_ = capacity_ = offset_;
  k_.clear();
  v_.clear();
  ks_.clear();
  vs_.clear();
  k_.resize(o.k_.size());
  v_.resize(o.v_.size());
  ks_.resize(o.ks_.size());
  vs_.resize(o.vs_.size());
  const int64_t own = o.length_ - o.offset_;
  if (own > 0) {
    reserve(o.length_);
    for (size_t l = 0; l < k_.size(); ++l) {
      be_->copy_device(k_[l].get(), o.k_[l].get(), size_t(own) * row_bytes());
      be_->copy_device(v_[l].get(), o.v_[l].get(), size_t(own) * row_bytes());
    }
    for (size_t l = 0; l < ks_.size(); ++l) {
      be_->copy_device(ks_[l].get(), o.ks_[l].get(), size_t(own * heads_) * 4);
      be_->copy_device(vs_[l].get(), o.vs_[l].get(), size_t(own * heads_) * 4);
    }
  }
  length_ = o.length_;
  return *this;
}

void KVCache::reserve(int64_t n) {
  if (n <= capacity_) return;
  RCC_CHECK(be_ != nullptr, "KVCache: not initialised");
  // Own rows only: the prefix's positions are not stored here.
  const int64_t own_cap = capacity_ - offset_, own_len = length_ - offset_;
  const int64_t cap = std::max<int64_t>(n - offset_, own_cap + own_cap / 2);
  auto grow = [&](std::vector<DeviceBuffer>& bufs, size_t old_row, size_t new_row) {
    for (DeviceBuffer& b : bufs) {
      DeviceBuffer nb(*be_, size_t(cap) * new_row);
      if (own_len > 0) be_->copy_device(nb.get(), b.get(), size_t(own_len) * old_row);
      b = std::move(nb);
    }
  };
  grow(k_, row_bytes(), row_bytes());
  grow(v_, row_bytes(), row_bytes());
  grow(ks_, size_t(heads_) * 4, size_t(heads_) * 4);
  grow(vs_, size_t(heads_) * 4, size_t(heads_) * 4);
  capacity_ = offset_ + cap;
}

float* KVCache::k_scale(int64_t layer) const {
  RCC_CHECK(dtype_ == DType::I8, "KVCache: scales exist only in 8-bit caches");
  return static_cast<float*>(ks_[slot(layer)].get());
}

float* KVCache::v_scale(int64_t layer) const {
  RCC_CHECK(dtype_ == DType::I8, "KVCache: scales exist only in 8-bit caches");
  return static_cast<float*>(vs_[slot(layer)].get());
}

float* KVCache::host_f32(const DeviceBuffer& b) const {
  RCC_CHECK(be_ && be_->is_host() && dtype_ == DType::F32,
            "KVCache: host f32 access to a cache on ", be_ ? be_->name() : "no backend");
  return static_cast<float*>(b.get());
}

void KVCache::truncate(int64_t n) {
  RCC_CHECK(n >= offset_ && n <= length_, "KVCache::truncate: ", n,
            " is outside the positions this cache owns [", offset_, ", ", length_, "]");
  length_ = n;
}

size_t KVCache::bytes() const {
  size_t per_layer =
      size_t(capacity_ - offset_) * (2 * row_bytes() + (ks_.empty() ? 0 : 2 * size_t(heads_) * 4));
  return per_layer * k_.size();
}

}  // namespace rcc
