#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace rcc {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    RCC_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
    RCC_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, "shape ", shape_str(s),
              " is too large");
    n *= d;
  }
  return n;
}

Tensor Tensor::empty(DType t, Shape shape) {
  Tensor r;
  r.dtype_ = t;
  r.shape_ = std::move(shape);
  size_t bytes = r.nbytes();
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (!p)
    fail("out of memory allocating ", bytes, " bytes for a tensor of shape ", shape_str(r.shape_));
  r.storage_ = std::shared_ptr<void>(p, std::free);
  r.data_ = p;
  return r;
}

Tensor Tensor::zeros(DType t, Shape shape) {
  Tensor r = empty(t, std::move(shape));
  std::memset(r.data_, 0, r.nbytes());
  return r;
}

Tensor Tensor::borrow(DType t, Shape shape, void* data, std::shared_ptr<void> keep_alive) {
  Tensor r;
  r.dtype_ = t;
  r.shape_ = std::move(shape);
  r.data_ = data;
  r.storage_ = std::move(keep_alive);
  return r;
}

Tensor Tensor::from_f32(const std::vector<float>& values, Shape shape) {
  Tensor r = empty(DType::F32, std::move(shape));
  RCC_CHECK(size_t(r.numel()) == values.size(), "from_f32: ", values.size(), " values for shape ",
            shape_str(r.shape_));
  std::memcpy(r.data_, values.data(), values.size() * 4);
  return r;
}

int64_t Tensor::dim(int i) const {
  if (i < 0) i += ndim();
  RCC_CHECK(i >= 0 && i < ndim(), "dimension ", i, " out of range for shape ", shape_str(shape_));
  return shape_[size_t(i)];
}

void Tensor::check_type(size_t elem_size, int is_float) const {
  bool ok = false;
  switch (dtype_) {
    case DType::F32:
      ok = elem_size == 4 && is_float;
      break;
    case DType::F16:
    case DType::BF16:
      ok = elem_size == 2 && !is_float;
      break;  // raw uint16_t access
    case DType::I32:
      ok = elem_size == 4 && !is_float;
      break;
    case DType::I64:
      ok = elem_size == 8 && !is_float;
      break;
    case DType::F64:
      ok = elem_size == 8 && is_float;
      break;
    default:
      ok = elem_size == dtype_size(dtype_) && !is_float;
      break;
  }
  RCC_CHECK(ok, "tensor of dtype ", dtype_name(dtype_), " accessed with an element type of ",
            elem_size, " bytes");
}

Tensor Tensor::with_block_scales(Tensor scales) const {
  RCC_CHECK(dtype_ == DType::I8 && ndim() == 2 && shape_[1] % kQuantBlock == 0,
            "block scales need an I8 matrix whose rows are a multiple of ", kQuantBlock,
            " long, got ", dtype_name(dtype_), " ", shape_str(shape_));
  RCC_CHECK(scales.dtype() == DType::F16 && scales.ndim() == 2 && scales.dim(0) == shape_[0] &&
                scales.dim(1) == shape_[1] / kQuantBlock,
            "block scales of a ", shape_str(shape_), " matrix must be F16 [", shape_[0], ", ",
            shape_[1] / kQuantBlock, "], got ", dtype_name(scales.dtype()), " ",
            shape_str(scales.shape()));
  Tensor r = *this;
  r.scales_ = std::make_shared<const Tensor>(std::move(scales));
  return r;
}

Tensor Tensor::with_fp8_scales(Tensor scales) const {
  RCC_CHECK(dtype_ == DType::F8_E4M3 && ndim() == 2, "FP8 scales need an F8_E4M3 matrix, got ",
            dtype_name(dtype_), " ", shape_str(shape_));
  RCC_CHECK(scales.dtype() == DType::F32 && scales.ndim() == 1 &&
                (scales.dim(0) == 1 || scales.dim(0) == shape_[0]),
            "FP8 scales of a ", shape_str(shape_), " matrix must be F32 [1] or [", shape_[0],
            "], got ", dtype_name(scales.dtype()), " ", shape_str(scales.shape()));
  Tensor r = *this;
  r.scales_ = std::make_shared<const Tensor>(std::move(scales));
  return r;
}

const Tensor& Tensor::block_scales() const {
  RCC_CHECK(scales_ && dtype_ == DType::I8, "tensor ", shape_str(shape_), " has no block scales");
  return *scales_;
}

const Tensor& Tensor::fp8_scales() const {
  RCC_CHECK(scales_ && dtype_ == DType::F8_E4M3, "tensor ", shape_str(shape_),
            " has no FP8 scales");
  return *scales_;
}

Tensor Tensor::reshape(Shape shape) const {
  RCC_CHECK(shape_numel(shape) == numel(), "cannot reshape ", shape_str(shape_), " to ",
            shape_str(shape));
  RCC_CHECK(!scales_ || shape == shape_, "cannot reshape a block-quantized matrix");
  Tensor r = *this;
  r.shape_ = std::move(shape);
  return r;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  RCC_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "rows [", begin, ", ",
            end, ") out of range for shape ", shape_str(shape_));
  Tensor r = *this;
  r.shape_[0] = end - begin;
  int64_t row = numel() / (shape_[0] ? shape_[0] : 1);
  r.data_ = static_cast<char*>(data_) + size_t(begin * row) * dtype_size(dtype_);
  if (scales_ && !(dtype_ == DType::F8_E4M3 && scales_->numel() == 1))  // one scale: shared
    r.scales_ = std::make_shared<const Tensor>(scales_->rows(begin, end));
  return r;
}

Tensor Tensor::to(DType t) const {
  if (scales_) {  // dequantized: q · its block's scale
    Tensor f = empty(DType::F32, shape_);
    dequantize_into(f.f32());
    return t == DType::F32 ? f : f.to(t);
  }
  Tensor r = empty(t, shape_);
  size_t n = size_t(numel());
  if (t == dtype_) {
    std::memcpy(r.data_, data_, nbytes());
  } else if (dtype_ == DType::F32) {
    convert_from_f32(static_cast<const float*>(data_), t, r.data_, n);
  } else if (t == DType::F32) {
    convert_to_f32(dtype_, data_, static_cast<float*>(r.data_), n);
  } else {
    std::vector<float> tmp(n);
    convert_to_f32(dtype_, data_, tmp.data(), n);
    convert_from_f32(tmp.data(), t, r.data_, n);
  }
  return r;
}

void Tensor::dequantize_into(float* out) const {
  const size_t n = size_t(numel());
  convert_to_f32(dtype_, data_, out, n);
  if (!scales_) return;
  if (dtype_ == DType::F8_E4M3) {  // one f32 scale for the matrix, or one per row
    const float* rs = static_cast<const float*>(scales_->raw());
    const bool per_row = scales_->numel() > 1;
    const size_t K = size_t(shape_[1]);
    for (size_t r = 0; r < size_t(shape_[0]); ++r)
      for (size_t k = 0; k < K; ++k) out[r * K + k] *= rs[per_row ? r : 0];
    return;
  }
  const uint16_t* d = static_cast<const uint16_t*>(scales_->raw());
  for (size_t b = 0; b < n / size_t(kQuantBlock); ++b) {  // one scale per block of 32
    const float scale = f16_to_f32(d[b]);
    for (size_t i = 0; i < size_t(kQuantBlock); ++i) out[b * kQuantBlock + i] *= scale;
  }
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  dequantize_into(v.data());
  return v;
}

}  // namespace rcc
