#include "tokenizer/word_cache.h"

#include <cstring>

namespace rcc::tok {

WordCache& WordCache::for_tokenizer(uint64_t serial) {
  struct PerThread {
    uint64_t owner = 0;
    WordCache cache;
  };
  thread_local PerThread t;
  if (t.owner != serial) {
    t.cache.clear();
    t.owner = serial;
  }
  return t.cache;
}

void WordCache::clear() {
  for (auto& s : slots_) s.hash = 0;
  count_ = 0;
  arena_keys_.clear();
  arena_ids_.clear();
}

void WordCache::insert(std::string_view word, uint64_t h, const int32_t* ids, uint32_t n) {
  if (word.size() > kMaxWordBytes || n > kMaxWordBytes) return;
  if (slots_.empty()) {
    slots_.resize(2 * kMaxEntries);  // load factor <= 1/2
    mask_ = slots_.size() - 1;
  }
  if (count_ >= kMaxEntries) clear();
  size_t i = h & mask_;
  while (slots_[i].hash != 0) i = (i + 1) & mask_;  // callers insert only after a miss
  Slot& s = slots_[i];
  s.hash = h;
  s.key_len = static_cast<uint16_t>(word.size());
  s.n_ids = static_cast<uint16_t>(n);
  if (word.size() <= kInlineKey && n <= kInlineIds) {
    std::memcpy(s.key, word.data(), word.size());
    std::memcpy(s.ids, ids, n * sizeof(int32_t));
  } else {
    s.off = static_cast<uint32_t>(arena_keys_.size());
    s.ids_off = static_cast<uint32_t>(arena_ids_.size());
    arena_keys_.append(word);
    arena_ids_.insert(arena_ids_.end(), ids, ids + n);
  }
  ++count_;
}

}  // namespace rcc::tok
