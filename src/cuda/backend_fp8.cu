// The CUDA backend's FP8 linear layers (spec §2.8): matrices quantised with one scale at load,
// activations with one scale per product, computed on the fly (fp8.cu), the product in cuBLASLt
// (gemm_fp8.cu).
#include "cuda/backend_impl.h"

namespace rcc::cuda {

namespace {
constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Tensor CudaBackend::prepare_weight_fp8(const Tensor& host) {
  RCC_CHECK(host.defined() && host.ndim() == 2,
            "CUDA prepare_weight_fp8: a 2-D matrix expected, got ", shape_str(host.shape()));
  const int64_t N = host.dim(0), K = host.dim(1);
  RCC_CHECK(K > 0 && K % 16 == 0 && N > 0, "CUDA FP8: a matrix of ", N, " x ", K,
            " (FP8 products need rows of a positive multiple of 16 elements)");
  use();
  int major = 0, minor = 0;
  RCC_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev_));
  RCC_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev_));
  RCC_CHECK(major >= 9,
            "FP8 matrix products (--encoder-precision fp8) need FP8 tensor cores "
            "(compute capability 9.0, Hopper); ",
            name_, " is ", major, ".", minor);
  // The bf16 matrix on the device (a temporary, freed at the end of this call), then quantised
  // into the weight's own block: E4M3 [N, K] | f32 scale | amax workspace.
  const Tensor b = prepare_weight(host);
  const size_t qbytes = aligned(size_t(N * K));
  auto [dev, keep] = weight_alloc(qbytes + 2 * sizeof(float));
  uint8_t* q = static_cast<uint8_t*>(dev);
  float* scale = reinterpret_cast<float*>(q + qbytes);
  launch_quantize_e4m3(static_cast<const bf16*>(b.raw()), N * K, q, scale,
                       reinterpret_cast<unsigned*>(scale + 1), num_sms_, stream_);
  RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before `b` is freed
  return Tensor::borrow(DType::F8_E4M3, {N, K}, q, keep)
      .with_fp8_scales(Tensor::borrow(DType::F32, {1}, scale, keep));
}

void CudaBackend::linear_fp8(const void* x, int64_t rows, const Tensor& W, const Tensor* bias,
                             void* y, bool accumulate) {
  RCC_CHECK(W.ndim() == 2 && W.quantized(), "CUDA: an FP8 linear weight without its scale ",
            "(use prepare_weight_fp8)");
  const int64_t N = W.dim(0), K = W.dim(1);
  if (bias) check_vector(*bias, N, "linear bias");
  if (rows <= 0) return;
  use();
  // scratch_.fp8_x: E4M3 [rows, K] | scale | amax workspace.
  const size_t qbytes = aligned(size_t(rows * K));
  grow(scratch_.fp8_x, qbytes + 2 * sizeof(float));
  uint8_t* xq = static_cast<uint8_t*>(scratch_.fp8_x.get());
  float* sx = reinterpret_cast<float*>(xq + qbytes);
  launch_quantize_e4m3(static_cast<const bf16*>(x), rows * K, xq, sx,
                       reinterpret_cast<unsigned*>(sx + 1), num_sms_, stream_);
  gemm_->run_fp8(xq, sx, rows, K, static_cast<const uint8_t*>(W.raw()),
                 static_cast<const float*>(W.fp8_scales().raw()), N,
                 bias ? static_cast<const float*>(bias->raw()) : nullptr, static_cast<bf16*>(y),
                 accumulate);
}

}  // namespace rcc::cuda
