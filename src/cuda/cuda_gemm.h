// Matrix products of the CUDA backend through cuBLASLt (bias fused in the epilogue where cuBLASLt
// offers it), with plain cuBLAS (cublasGemmEx) plus a bias kernel as the fallback.
#pragma once
#include <cstdint>
#include <map>
#include <tuple>

#include "cuda/cuda_common.cuh"

namespace rcc::cuda {

class Gemm {
 public:
  // `use_lt` false: always cublasGemmEx (RCC_CUDA_GEMM=cublas; for testing the fallback).
  Gemm(cudaStream_t stream, bool use_lt);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // Row-major y[rows, N] = x[rows, K] · W[N, K]^T (+ bias[N]) (+ y when accumulate), x and W bf16,
  // f32 accumulation, y bf16 (or f32 when y_f32; then bias must be null).
  void run(const bf16* x, int64_t rows, int64_t K, const bf16* W, int64_t N, const float* bias,
           void* y, bool y_f32, bool accumulate);

 private:
  // Column-major view: D[N, rows] = op_T(W as [K, N]) · x^T as [K, rows] (+ bias per row of D).
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool lt = false;             // a cuBLASLt algorithm was found
    bool bias_epilogue = false;  // the bias is added by the epilogue (else by a kernel)
  };
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, int, int, int, int>;
  Plan& plan(const Key& key, const float* bias);
  bool make_lt(Plan& p, const Key& key, bool with_bias, const float* bias);
  void destroy(Plan& p);

  cudaStream_t stream_;
  bool use_lt_;
  cublasLtHandle_t lt_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace rcc::cuda
