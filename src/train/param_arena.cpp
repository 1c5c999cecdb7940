#include "train/param_arena.h"

#include <cstring>

namespace rcc {

size_t ParamLayout::add(const std::string& name, const Shape& shape) {
  RCC_CHECK(find(name) < 0, "parameter '", name, "' added twice");
  ParamEntry e;
  e.name = name;
  e.shape = shape;
  e.numel = shape_numel(shape);
  e.offset = (total_ + 15) / 16 * 16;
  total_ = e.offset + e.numel;
  entries_.push_back(std::move(e));
  return entries_.size() - 1;
}

int64_t ParamLayout::count() const {
  int64_t n = 0;
  for (const ParamEntry& e : entries_) n += e.numel;
  return n;
}

int64_t ParamLayout::find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return int64_t(i);
  return -1;
}

Tensor ParamLayout::new_buffer() const {
  return Tensor::zeros(DType::F32, {total()});
}

Tensor ParamLayout::view(const Tensor& buffer, size_t i) const {
  RCC_CHECK(buffer.dtype() == DType::F32 && buffer.ndim() == 1 && buffer.numel() >= total_,
            "parameter buffer of shape ", shape_str(buffer.shape()), " does not fit the layout");
  const ParamEntry& e = entries_.at(i);
  return buffer.rows(e.offset, e.offset + e.numel).reshape(e.shape);
}

}  // namespace rcc
