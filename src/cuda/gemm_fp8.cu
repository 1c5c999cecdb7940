// FP8 E4M3 matrix products through cuBLASLt (spec §2.8): one f32 scale per operand (device
// scalars), f32 accumulation, bf16 output, the bias in the epilogue from a bf16 copy. Hopper runs
// them on its FP8 tensor cores at twice the bf16 rate. (Per-row "outer vector" and 1×128 block
// scales exist in cuBLASLt 13 too; bench/results/gpu_fp8.md says what was tried.)
#include <chrono>
#include <cstdio>

#include "core/settings.h"
#include "cuda/gemm.h"
#include "cuda/kernels.h"

namespace rcc::cuda {

Gemm::Fp8Plan& Gemm::fp8_plan(const Fp8Key& key, const bf16* bias16, int64_t rows) {
  auto it = fp8_plans_.find(key);
  if (it != fp8_plans_.end()) return it->second;
  if (fp8_plans_.size() >= kMaxPlanCount) {
    for (auto& kv : fp8_plans_) destroy(kv.second);
    fp8_plans_.clear();
  }
  const auto [bucket, K, N, has_bias, al_y] = key;
  (void)bucket;
  const auto t0 = std::chrono::steady_clock::now();
  Fp8Plan p;
  RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  auto set = [&](cublasLtMatmulDescAttributes_t attr, const auto& v) {
    RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, attr, &v, sizeof(v)));
  };
  // Column-major view as in run(): D [N, rows] = op_T(W as [K, N]) · x^T as [K, rows]; FP8
  // products take exactly this "TN" form. Scales: one f32 each (the default scale mode).
  set(CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
  set(CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  const int8_t fast = fp8_fast_accum_ ? 1 : 0;
  set(CUBLASLT_MATMUL_DESC_FAST_ACCUM, fast);
  if (has_bias) {
    set(CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(CUDA_R_16BF));
    set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias16);
  }
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutCreate(&p.a, CUDA_R_8F_E4M3, uint64_t(K), uint64_t(N), K));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutCreate(&p.b, CUDA_R_8F_E4M3, uint64_t(K), uint64_t(rows), K));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, uint64_t(N), uint64_t(rows), N));
  p.rows = rows;
  cublasLtMatmulHeuristicResult_t res;
  // The quantised operands live in buffers of their own (256-byte aligned).
  if (heuristic(p.op, p.a, p.b, p.c, 256, 256, al_y, &res, 1) > 0) {
    p.algo = res.algo;
    p.lt = true;
  } else {
    destroy(p);
  }
  if (log_) {
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "fp8 gemm rows %lld K %lld N %lld bias %d align y %d: %s (%.0f us)\n",
                 (long long)rows, (long long)K, (long long)N, int(has_bias), al_y,
                 p.lt ? "cuBLASLt" : "no algorithm", us);
  }
  return fp8_plans_.emplace(key, p).first->second;
}

void Gemm::run_fp8(const uint8_t* xq, const float* sx, int64_t rows, int64_t K, const uint8_t* Wq,
                   const float* sw, int64_t N, const float* bias, bf16* y, bool accumulate) {
  if (rows <= 0 || N <= 0) return;
  RCC_CHECK(K > 0 && K % 16 == 0, "CUDA fp8 gemm: K ", K, " is not a positive multiple of 16");
  RCC_CHECK(rows < (int64_t(1) << 31) && K < (int64_t(1) << 31) && N < (int64_t(1) << 31),
            "CUDA fp8 gemm: dimensions too large (", rows, " x ", K, " x ", N, ")");
  const bf16* bias16 = bias ? bias_bf16(bias, N) : nullptr;
  Fp8Key key{plan_rows(rows), K, N, bias != nullptr, alignment_of(y)};
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Fp8Plan& p = fp8_plan(key, bias16, rows);
    if (p.lt) {
      auto set = [&](cublasLtMatmulDescAttributes_t attr, const auto& v) {
        RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, attr, &v, sizeof(v)));
      };
      set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, sw);
      set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, sx);
      if (bias16) set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias16);
      if (p.rows != rows) {
        set_rows(p.b, p.c, rows);
        p.rows = rows;
      }
      const cublasStatus_t st =
          api.p_cublasLtMatmul(lt_, p.op, &alpha, Wq, p.a, xq, p.b, &beta, y, p.c, y, p.c, &p.algo,
                               workspace_, workspace_bytes_, stream_);
      if (st == CUBLAS_STATUS_SUCCESS) return;
      if (std::get<0>(key) == rows) RCC_CUBLAS_CHECK(st);
    } else if (std::get<0>(key) == rows) {
      break;
    }
    std::get<0>(key) = rows;  // the bucket's plan refused this row count: the exact shape's own
  }
  fail("CUDA: cuBLASLt has no FP8 algorithm for ", rows, " x ", K, " x ", N,
       " on this GPU (FP8 needs compute capability 9.0)");
}

}  // namespace rcc::cuda
