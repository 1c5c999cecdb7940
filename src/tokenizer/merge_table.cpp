#include "tokenizer/merge_table.h"

#include "core/error.h"

namespace rcc::tok {

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  int bits = 4;
  while (cap < 2 * n + 16) {
    cap <<= 1;
    ++bits;
  }
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  shift_ = 64 - bits;
  count_ = 0;
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  RCC_CHECK(left >= 0 && right >= 0, "merge pair with a negative id");
  RCC_CHECK(2 * (count_ + 1) <= slots_.size(), "MergeTable is full (reserve() first)");
  const uint64_t key = pack(left, right);
  size_t i = slot_of(key);
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  if (slots_[i].key == kEmpty) ++count_;
  slots_[i] = Slot{key, rank, merged};
}

}  // namespace rcc::tok
