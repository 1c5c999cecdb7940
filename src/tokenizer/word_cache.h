// A cache of pre-token -> ids for frequent words: a flat open-addressing table whose keys and id
// lists live in two arenas. It holds up to kMaxEntries words of up to kMaxWordBytes bytes and is
// simply cleared when full. One cache exists per thread (see for_tokenizer), so encode() stays
// const and thread-safe without locks.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rcc::tok {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kMaxEntries = 1 << 16;

  // The calling thread's cache for the tokenizer with this serial number (cleared when the thread
  // last used it for another tokenizer).
  static WordCache& for_tokenizer(uint64_t serial);

  // Returns the cached ids of `word` (hash h) and their count in *n, or nullptr.
  const int32_t* find(std::string_view word, uint64_t h, uint32_t* n) const {
    if (slots_.empty()) return nullptr;
    size_t i = h & mask_;
    for (;;) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && s.key_len == word.size() &&
          std::string_view(keys_.data() + s.key_off, s.key_len) == word) {
        *n = s.n_ids;
        return ids_.data() + s.ids_off;
      }
      i = (i + 1) & mask_;
    }
  }

  void insert(std::string_view word, uint64_t h, const int32_t* ids, uint32_t n);
  void clear();

  // Never 0 (0 marks an empty slot).
  static uint64_t hash(std::string_view word);

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, ids_off = 0;
    uint16_t key_len = 0, n_ids = 0;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace rcc::tok
