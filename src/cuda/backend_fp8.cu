// The CUDA backend's FP8 linear layers (spec §2.8): matrices quantised with one scale at load,
// activations with one scale per product, computed on the fly (fp8.cu), the product in cuBLASLt
// (gemm_fp8.cu).
#include "cuda/backend_impl.h"

namespace rcc::cuda {

namespace {
// An E4M3 copy of n elements: the codes (256-byte aligned) | the f32 scale | the amax workspace.
size_t fp8_block_bytes(int64_t n) {
  return (size_t(n) + 255) / 256 * 256 + 2 * sizeof(float);
}
struct Fp8Block {
  uint8_t* q;
  float* scale;
};
// Quantises x [n] into `block` (fp8_block_bytes(n) bytes), enqueued on `stream`.
Fp8Block quantize_into(const bf16* x, int64_t n, void* block, int sms, cudaStream_t stream) {
  uint8_t* q = static_cast<uint8_t*>(block);
  float* scale = reinterpret_cast<float*>(q + fp8_block_bytes(n) - 2 * sizeof(float));
  launch_quantize_e4m3(x, n, q, scale, reinterpret_cast<unsigned*>(scale + 1), sms, stream);
  return {q, scale};
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
  // into the weight's own block.
  const Tensor b = prepare_weight(host);
  auto [dev, keep] = weight_alloc(fp8_block_bytes(N * K));
  const Fp8Block w =
      quantize_into(static_cast<const bf16*>(b.raw()), N * K, dev, num_sms_, stream_);
  RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before `b` is freed
  return Tensor::borrow(DType::F8_E4M3, {N, K}, w.q, keep)
      .with_fp8_scales(Tensor::borrow(DType::F32, {1}, w.scale, keep));
}

void CudaBackend::linear_fp8(const void* x, int64_t rows, const Tensor& W, const Tensor* bias,
                             void* y, bool accumulate) {
  RCC_CHECK(W.ndim() == 2 && W.quantized(), "CUDA: an FP8 linear weight without its scale ",
            "(use prepare_weight_fp8)");
  const int64_t N = W.dim(0), K = W.dim(1);
  if (bias) check_vector(*bias, N, "linear bias");
  if (rows <= 0) return;
  use();
  grow(scratch_.fp8_x, fp8_block_bytes(rows * K));
  const Fp8Block xb =
      quantize_into(static_cast<const bf16*>(x), rows * K, scratch_.fp8_x.get(), num_sms_, stream_);
  gemm_->run_fp8(xb.q, xb.scale, rows, K, static_cast<const uint8_t*>(W.raw()),
                 static_cast<const float*>(W.fp8_scales().raw()), N,
                 bias ? static_cast<const float*>(bias->raw()) : nullptr, static_cast<bf16*>(y),
                 accumulate);
}

}  // namespace rcc::cuda
