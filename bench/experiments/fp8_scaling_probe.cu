// Timing of cuBLASLt FP8 products on the encoder's shapes (8192 rows: 4 windows of Pythia-1.4b):
// one scale per operand (scalar) against per-row "outer vector" scales, with and without the bias
// epilogue, beta 0 and 1 (bench/experiments/fp8-per-row-scales.md). On a GPU host:
//   nvcc -arch=sm_90 -o /tmp/fp8_scaling_probe bench/experiments/fp8_scaling_probe.cu -lcublasLt
//   /tmp/fp8_scaling_probe
// Operands: random E4M3 bytes without NaN codes (bit 3 cleared), scales 0.01.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>
#define CK(x)                                                       \
  do {                                                              \
    cudaError_t e = (x);                                            \
    if (e) {                                                        \
      printf("cuda %s line %d\n", cudaGetErrorString(e), __LINE__); \
      return 1;                                                     \
    }                                                               \
  } while (0)
int main() {
  cublasLtHandle_t lt;
  cublasLtCreate(&lt);
  void* ws;
  CK(cudaMalloc(&ws, 32 << 20));
  const long R = 8192;
  long shapes[][2] = {{2048, 6144}, {2048, 2048}, {2048, 8192}, {8192, 2048}};
  size_t maxb = size_t(8192) * 8192;
  uint8_t *A, *B;
  __nv_bfloat16 *C, *bias;
  float *sa, *sb;
  CK(cudaMalloc(&A, maxb));
  CK(cudaMalloc(&B, maxb));
  CK(cudaMalloc(&C, maxb * 2));
  CK(cudaMalloc(&bias, 8192 * 2));
  CK(cudaMalloc(&sa, 8192 * 4));
  CK(cudaMalloc(&sb, 8192 * 4));
  std::mt19937 rng(1);
  std::vector<uint8_t> h(maxb);
  for (auto& b : h) b = uint8_t(rng()) & 0xF7;
  CK(cudaMemcpy(A, h.data(), maxb, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(B, h.data(), maxb, cudaMemcpyHostToDevice));
  std::vector<float> one(8192, 0.01f);
  CK(cudaMemcpy(sa, one.data(), 8192 * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(sb, one.data(), 8192 * 4, cudaMemcpyHostToDevice));
  CK(cudaMemset(bias, 0, 8192 * 2));
  CK(cudaMemset(C, 0, maxb * 2));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (auto& sh : shapes)
    for (int mode : {0, 3})
      for (int withb : {0, 1})
        for (int beta_i : {0, 1}) {
          long K = sh[0], N = sh[1];
          cublasLtMatmulDesc_t op;
          cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
          cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof n);
          int32_t m = mode;
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &m, sizeof m);
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &m, sizeof m);
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof sa);
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof sb);
          if (withb) {
            cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
            int32_t bt = CUDA_R_16BF;
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                           sizeof bias);
          }
          cublasLtMatrixLayout_t la, lb, lc;
          cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, K, N, K);
          cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, K, R, K);
          cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, N, R, N);
          cublasLtMatmulPreference_t pref;
          cublasLtMatmulPreferenceCreate(&pref);
          uint64_t wsb = 32 << 20;
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                               sizeof wsb);
          cublasLtMatmulHeuristicResult_t res;
          int found = 0;
          cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &res, &found);
          const char* mn = mode ? "outer " : "scalar";
          if (!found) {
            printf("P2 %ldx%ldx%ld %s bias=%d beta=%d: no algorithm\n", R, K, N, mn, withb, beta_i);
            continue;
          }
          float alpha = 1, beta = float(beta_i);
          cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
          for (int i = 0; i < 3 && !st; ++i)
            st = cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, C, lc, C, lc, &res.algo, ws,
                                wsb, 0);
          if (st) {
            printf("P2 %ldx%ldx%ld %s bias=%d beta=%d: matmul status %d\n", R, K, N, mn, withb,
                   beta_i, int(st));
            continue;
          }
          std::vector<float> ts;
          for (int i = 0; i < 20; ++i) {
            cudaEventRecord(e0);
            cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, C, lc, C, lc, &res.algo, ws, wsb,
                           0);
            cudaEventRecord(e1);
            cudaEventSynchronize(e1);
            float ms;
            cudaEventElapsedTime(&ms, e0, e1);
            ts.push_back(ms);
          }
          std::sort(ts.begin(), ts.end());
          printf("P2 %ldx%ldx%ld %s bias=%d beta=%d: %.4f ms %.0f TFLOP/s\n", R, K, N, mn, withb,
                 beta_i, ts[10], 2.0 * R * K * N / ts[10] / 1e9);
        }
  CK(cudaDeviceSynchronize());
  return 0;
}
