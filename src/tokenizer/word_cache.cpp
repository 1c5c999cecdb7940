#include "tokenizer/word_cache.h"

#include "tokenizer/hash.h"

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

uint64_t WordCache::hash(std::string_view word) {
  uint64_t h = hash_bytes(word.data(), word.size());
  return h ? h : 1;
}

void WordCache::clear() {
  for (auto& s : slots_) s = Slot{};
  count_ = 0;
  keys_.clear();
  ids_.clear();
}

void WordCache::insert(std::string_view word, uint64_t h, const int32_t* ids, uint32_t n) {
  if (word.size() > kMaxWordBytes || n > kMaxWordBytes) return;
  if (slots_.empty()) {
    slots_.assign(2 * kMaxEntries, Slot{});  // load factor <= 1/2
    mask_ = slots_.size() - 1;
    keys_.reserve(kMaxEntries * 8);
    ids_.reserve(kMaxEntries * 2);
  }
  if (count_ >= kMaxEntries) clear();
  size_t i = h & mask_;
  while (slots_[i].hash != 0) i = (i + 1) & mask_;  // callers insert only after a miss
  Slot& s = slots_[i];
  s.hash = h;
  s.key_off = static_cast<uint32_t>(keys_.size());
  s.key_len = static_cast<uint16_t>(word.size());
  s.ids_off = static_cast<uint32_t>(ids_.size());
  s.n_ids = static_cast<uint16_t>(n);
  keys_.append(word);
  ids_.insert(ids_.end(), ids, ids + n);
  ++count_;
}

}  // namespace rcc::tok
