// Which cuBLASLt epilogues exist for bf16 products on this card, and what they cost: the MLP's
// forward (fc_in with bias + GELU, keeping the pre-activation as aux) and backward (fc_out's
// input gradient with dGELU from the aux, optionally the bias gradient). Build:
// nvcc -O2 -arch=sm_90 probe_epilogue.cu -lcublasLt -o probe
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <cstdio>
#include <vector>

#define CK(x)                                                        \
  do {                                                               \
    auto s_ = (x);                                                   \
    if (s_ != 0) {                                                   \
      std::printf("%s:%d status %d\n", __FILE__, __LINE__, int(s_)); \
    }                                                                \
  } while (0)

static cublasLtHandle_t lt;
static void* ws;
static const size_t kWs = 64 << 20;

// Column-major D[m, n] = op(A) op(B), A [k, m] ld k used T (forward) or [m, k] ld m used N.
static void probe(const char* name, cublasLtEpilogue_t epi, bool trans_a, int m, int n, int k,
                  void* A, void* B, void* D, void* bias, int bias_type, void* aux, int rep) {
  cublasLtMatmulDesc_t op;
  CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
  CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (bias) {
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                      sizeof bias_type));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  }
  if (aux) {
    int64_t ld = m;
    int at = CUDA_R_16BF;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux,
                                      sizeof aux));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, &at,
                                      sizeof at));
  }
  cublasLtMatrixLayout_t la, lb, lc;
  if (trans_a)
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, m, k));
  else
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, m, k, m));
  CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k));
  CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, m, n, m));
  cublasLtMatmulPreference_t pref;
  CK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t w = kWs;
  CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &w,
                                          sizeof w));
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &res, &found);
  if (st != 0 || found == 0) {
    std::printf("%-34s m %5d n %6d k %5d: no algorithm (status %d, found %d)\n", name, m, n, k,
                int(st), found);
    return;
  }
  float alpha = 1, beta = 0;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < 3; ++i)
    CK(cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &res.algo, ws, kWs, 0));
  cudaEventRecord(e0);
  for (int i = 0; i < rep; ++i)
    cublasLtMatmul(lt, op, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &res.algo, ws, kWs, 0);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  ms /= rep;
  std::printf("%-34s m %5d n %6d k %5d: %.4f ms  %.0f TFLOP/s  (%s)\n", name, m, n, k, ms,
              2.0 * m * n * k / ms / 1e9, cudaGetErrorString(cudaGetLastError()));
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
}

int main() {
  cublasLtCreate(&lt);
  cudaMalloc(&ws, kWs);
  const int rows = 32768;
  for (int shape = 0; shape < 2; ++shape) {
    const int H = shape == 0 ? 768 : 1024, I = 4 * H;
    void *A, *B, *D, *bias, *aux;
    cudaMalloc(&A, size_t(H) * I * 2);
    cudaMalloc(&B, size_t(rows) * I * 2);
    cudaMalloc(&D, size_t(rows) * I * 4);
    cudaMalloc(&aux, size_t(rows) * I * 2);
    cudaMalloc(&bias, size_t(I) * 4);
    cudaMemset(A, 0, size_t(H) * I * 2);
    cudaMemset(B, 0, size_t(rows) * I * 2);
    cudaMemset(bias, 0, size_t(I) * 4);
    std::printf("H %d I %d rows %d\n", H, I, rows);
    // Forward fc_in: D[I, rows] = W[H, I]^T-as-stored · x^T.
    probe("fwd DEFAULT", CUBLASLT_EPILOGUE_DEFAULT, true, I, rows, H, A, B, D, nullptr, 0, nullptr,
          20);
    probe("fwd BIAS bf16", CUBLASLT_EPILOGUE_BIAS, true, I, rows, H, A, B, D, bias, CUDA_R_16BF,
          nullptr, 20);
    probe("fwd GELU_BIAS bf16", CUBLASLT_EPILOGUE_GELU_BIAS, true, I, rows, H, A, B, D, bias,
          CUDA_R_16BF, nullptr, 20);
    probe("fwd GELU_AUX_BIAS bf16", CUBLASLT_EPILOGUE_GELU_AUX_BIAS, true, I, rows, H, A, B, D,
          bias, CUDA_R_16BF, aux, 20);
    probe("fwd GELU_AUX_BIAS f32bias", CUBLASLT_EPILOGUE_GELU_AUX_BIAS, true, I, rows, H, A, B, D,
          bias, CUDA_R_32F, aux, 20);
    // Backward: dact[I, rows] = W_out[H, I] stored row-major = col-major [I, H] (N) · dy^T [H,
    // rows].
    probe("bwd DEFAULT", CUBLASLT_EPILOGUE_DEFAULT, false, I, rows, H, A, B, D, nullptr, 0, nullptr,
          20);
    probe("bwd DGELU", CUBLASLT_EPILOGUE_DGELU, false, I, rows, H, A, B, D, nullptr, 0, aux, 20);
    probe("bwd DGELU_BGRAD bf16", CUBLASLT_EPILOGUE_DGELU_BGRAD, false, I, rows, H, A, B, D, bias,
          CUDA_R_16BF, aux, 20);
    probe("bwd DGELU_BGRAD f32", CUBLASLT_EPILOGUE_DGELU_BGRAD, false, I, rows, H, A, B, D, bias,
          CUDA_R_32F, aux, 20);
    cudaFree(A);
    cudaFree(B);
    cudaFree(D);
    cudaFree(aux);
    cudaFree(bias);
  }
  return 0;
}
