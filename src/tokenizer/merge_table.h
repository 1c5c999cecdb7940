// The BPE merge ranks: a flat open-addressing hash table keyed on the pair (left id, right id),
// holding the merge's rank (its position in the merges list) and the id of the merged token.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcc::tok {

class MergeTable {
 public:
  // Sizes the table for n merges (call once, before insert).
  void reserve(size_t n);
  // Inserts or overwrites (a later duplicate of a pair wins, as in Hugging Face tokenizers).
  void insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  size_t size() const { return count_; }

  // Looks up a pair; returns false when the pair never merges.
  bool find(int32_t left, int32_t right, int32_t* rank, int32_t* merged) const {
    if (slots_.empty()) return false;
    const uint64_t key = pack(left, right);
    size_t i = slot_of(key);
    for (;;) {
      const Slot& s = slots_[i];
      if (s.key == key) {
        *rank = s.rank;
        *merged = s.merged;
        return true;
      }
      if (s.key == kEmpty) return false;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so never a real key
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = 0;
  };
  static uint64_t pack(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  size_t slot_of(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t count_ = 0;
};

}  // namespace rcc::tok
