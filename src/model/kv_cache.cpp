#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace rcc {

void KVCache::reserve(int64_t n) {
  if (n <= capacity_) return;
  int64_t cap = std::max<int64_t>(n, capacity_ + capacity_ / 2);
  for (size_t l = 0; l < k_.size(); ++l) {
    k_[l].resize(size_t(cap * width_));
    v_[l].resize(size_t(cap * width_));
  }
  capacity_ = cap;
}

void KVCache::truncate(int64_t n) {
  RCC_CHECK(n >= 0 && n <= length_, "KVCache::truncate: ", n, " is past the cached length ",
            length_);
  length_ = n;
}

}  // namespace rcc
