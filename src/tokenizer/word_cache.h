// A cache of pre-token -> ids for frequent words: a flat open-addressing table of 64-byte slots.
// Short words (<= 16 bytes, <= 7 ids: nearly all of them) live inside their slot, so a lookup
// touches one cache line; longer ones keep their key and ids in an arena. The cache holds up to
// kMaxEntries words of up to kMaxWordBytes bytes and is simply cleared when full. One cache exists
// per thread (see for_tokenizer), so encode() stays const and thread-safe without locks.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/hash.h"

namespace rcc::tok {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;
  static constexpr size_t kMaxEntries = 1 << 15;
  static constexpr size_t kInlineKey = 16, kInlineIds = 7;

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
      if (s.hash == h && s.key_len == word.size()) {
        const bool in_slot = s.key_len <= kInlineKey && s.n_ids <= kInlineIds;
        const char* key = in_slot ? s.key : arena_keys_.data() + s.off;
        if (bytes_equal(key, word.data(), word.size())) {
          *n = s.n_ids;
          return in_slot ? s.ids : arena_ids_.data() + s.ids_off;
        }
      }
      i = (i + 1) & mask_;
    }
  }

  void insert(std::string_view word, uint64_t h, const int32_t* ids, uint32_t n);
  void clear();

  // Never 0 (0 marks an empty slot).
  static uint64_t hash(std::string_view word) {
    uint64_t h = hash_bytes(word.data(), word.size());
    return h ? h : 1;
  }

 private:
  struct alignas(64) Slot {
    uint64_t hash = 0;
    uint32_t off = 0, ids_off = 0;  // arena offsets (long words only)
    uint16_t key_len = 0, n_ids = 0;
    char key[kInlineKey];
    int32_t ids[kInlineIds];
  };
  static_assert(sizeof(Slot) == 64, "one cache line per slot");
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  std::string arena_keys_;
  std::vector<int32_t> arena_ids_;
};

}  // namespace rcc::tok
