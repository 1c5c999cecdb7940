#include "rcc/memory.h"

#include "core/error.h"

namespace rcc {

void Memory::append_slots(const float* states, int64_t n) {
  const size_t before = data.size();
  data.resize(before + size_t(n * slot_bytes()));
  convert_from_f32(states, dtype, data.data() + before, size_t(n * levels * hidden));
}

void Memory::drop_last_slots(int64_t n) {
  RCC_CHECK(n >= 0 && n <= slots(), "memory: cannot drop ", n, " of ", slots(), " slots");
  data.resize(data.size() - size_t(n * slot_bytes()));
}

void Memory::slots_f32(int64_t begin, int64_t n, float* out) const {
  RCC_CHECK(begin >= 0 && n >= 0 && begin + n <= slots(), "memory: slots [", begin, ", ",
            begin + n, ") out of range (", slots(), " slots)");
  convert_to_f32(dtype, data.data() + size_t(begin * slot_bytes()), out, size_t(n * levels * hidden));
}

Tensor Memory::as_tensor() const {
  return Tensor::borrow(dtype, {slots(), levels, hidden}, const_cast<unsigned char*>(data.data()),
                        nullptr);
}

}  // namespace rcc
