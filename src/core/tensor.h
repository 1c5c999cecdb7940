// A tensor: element type, shape (row-major, contiguous) and a pointer into shared storage. Storage
// is either owned (64-byte aligned heap block) or borrowed from a memory-mapped file that the
// tensor keeps alive. Copies of a Tensor share storage; `clone()` copies data.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace rcc {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3]"
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  // Owned, uninitialised.
  static Tensor empty(DType t, Shape shape);
  // Owned, zero-filled.
  static Tensor zeros(DType t, Shape shape);
  // Borrowed data; `keep_alive` owns what `data` points into (e.g. a mapped file).
  static Tensor borrow(DType t, Shape shape, void* data, std::shared_ptr<void> keep_alive);
  // Owned f32 copy of a host vector.
  static Tensor from_f32(const std::vector<float>& values, Shape shape);

  bool defined() const { return data_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return int(shape_.size()); }
  int64_t dim(int i) const;
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  void* raw() const { return data_; }
  template <class T>
  T* data() const {
    check_type(sizeof(T), type_is_float<T>());
    return static_cast<T*>(data_);
  }
  float* f32() const { return data<float>(); }

  // Same storage, new shape with equal element count.
  Tensor reshape(Shape shape) const;
  // Rows [begin, end) along dimension 0, sharing storage.
  Tensor rows(int64_t begin, int64_t end) const;
  // Deep copy converted to `t` (F32/F16/BF16 targets; any source).
  Tensor to(DType t) const;
  Tensor clone() const { return to(dtype_); }
  // All elements as f32 (copy).
  std::vector<float> to_vector() const;

  // Block-quantized matrices (ops/quant.h): an I8 [N, K] tensor carries its F16 [N, K / 32]
  // scales; to(), to_vector() and rows() take them into account.
  Tensor with_block_scales(Tensor scales) const;
  // FP8 matrices (Backend::prepare_weight_fp8): an F8_E4M3 [N, K] tensor carries F32 scales, one
  // for the whole matrix ([1]) or one per row ([N]); element (n, k) is q[n, k] · scale (of row n).
  Tensor with_fp8_scales(Tensor scales) const;
  bool quantized() const { return scales_ != nullptr; }
  const Tensor& block_scales() const;  // checked: an I8 tensor with block scales only
  const Tensor& fp8_scales() const;    // checked: an F8_E4M3 tensor with scales only

 private:
  template <class T>
  static constexpr int type_is_float() {
    return std::is_floating_point_v<T> ? 1 : 0;
  }
  void check_type(size_t elem_size, int is_float) const;
  // All elements as f32 into out[numel()] (block scales applied where the tensor has them).
  void dequantize_into(float* out) const;

  DType dtype_ = DType::F32;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
  std::shared_ptr<const Tensor> scales_;  // quantized matrices only
};

}  // namespace rcc
