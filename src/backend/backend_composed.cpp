// The backend ops that a backend may fuse, composed from the primitive ones (the CPU backend uses
// these; CUDA overrides them with single kernels, cuda_norm.cu and cuda_norm_backward.cu).
#include "backend/backend.h"

namespace rcc {

void Backend::layer_norm_pair(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                              const Tensor& b1, const Tensor& w2, const Tensor& b2, float eps,
                              void* y1, void* y2, void* x_copy) {
  if (x_copy) copy_device(x_copy, x, act_bytes(rows * H));
  layer_norm(x, rows, H, w1, b1, eps, y1);
  layer_norm(x, rows, H, w2, b2, eps, y2);
}

void Backend::layer_norm_pair_backward(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                       const Tensor& w2, float eps, const void* dy1,
                                       const void* dy2, void* dx, float* dw1, float* db1,
                                       float* dw2, float* db2) {
  layer_norm_backward(x, rows, H, w2, eps, dy2, dx, dw2, db2);
  layer_norm_backward(x, rows, H, w1, eps, dy1, dx, dw1, db1);
}

}  // namespace rcc
