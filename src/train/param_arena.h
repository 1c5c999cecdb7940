// One f32 allocation for every trainable tensor (llm.c style): a layout of named tensors at 64-byte
// aligned offsets, and views into any buffer with that layout. Parameters, gradients and the AdamW
// moments m and v are four buffers of one layout, so the optimizer runs over flat arrays.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace rcc {

struct ParamEntry {
  std::string name;  // checkpoint name (spec §5.2)
  Shape shape;
  int64_t offset = 0;  // in floats, a multiple of 16
  int64_t numel = 0;
};

class ParamLayout {
 public:
  // Appends a tensor; returns its index. Names must be unique.
  size_t add(const std::string& name, const Shape& shape);
  const std::vector<ParamEntry>& entries() const { return entries_; }
  int64_t total() const { return (total_ + 15) / 16 * 16; }  // floats, padding included
  int64_t count() const;                                     // parameters, padding excluded
  // index of `name`, or -1
  int64_t find(const std::string& name) const;

  // A zero-filled f32 buffer [total()].
  Tensor new_buffer() const;
  // View of entry `i` inside `buffer` (shares its storage).
  Tensor view(const Tensor& buffer, size_t i) const;

 private:
  std::vector<ParamEntry> entries_;
  int64_t total_ = 0;
};

}  // namespace rcc
