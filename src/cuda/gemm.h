// Matrix products of the CUDA backend through cuBLASLt (bias fused in the epilogue where cuBLASLt
// offers it), with plain cuBLAS (cublasGemmEx) plus a bias kernel as the fallback.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "cuda/common.cuh"

namespace rcc::cuda {

// cuBLAS and cuBLASLt are loaded with dlopen when the first CUDA backend is made, not linked:
// their static initialisers cost ~0.15 s and ~210 MB of resident memory at every process start,
// which CPU-only runs of a CUDA-enabled build should not pay. The entry points used: p_NAME.
struct BlasApi {
#define RCC_BLAS_FN(f) decltype(&::f) p_##f = nullptr;
  RCC_BLAS_FN(cublasLtCreate)
  RCC_BLAS_FN(cublasLtDestroy)
  RCC_BLAS_FN(cublasLtMatmulDescCreate)
  RCC_BLAS_FN(cublasLtMatmulDescDestroy)
  RCC_BLAS_FN(cublasLtMatmulDescSetAttribute)
  RCC_BLAS_FN(cublasLtMatrixLayoutCreate)
  RCC_BLAS_FN(cublasLtMatrixLayoutDestroy)
  RCC_BLAS_FN(cublasLtMatrixLayoutSetAttribute)
  RCC_BLAS_FN(cublasLtMatmulPreferenceCreate)
  RCC_BLAS_FN(cublasLtMatmulPreferenceSetAttribute)
  RCC_BLAS_FN(cublasLtMatmulPreferenceDestroy)
  RCC_BLAS_FN(cublasLtMatmulAlgoGetHeuristic)
  RCC_BLAS_FN(cublasLtMatmul)
  RCC_BLAS_FN(cublasCreate)  // cublas_v2.h macros: cublasCreate_v2 etc.
  RCC_BLAS_FN(cublasDestroy)
  RCC_BLAS_FN(cublasSetStream)
  RCC_BLAS_FN(cublasSetWorkspace)
  RCC_BLAS_FN(cublasGetStatusName)
  RCC_BLAS_FN(cublasGetStatusString)
#undef RCC_BLAS_FN
  // cublasGemmEx has a C++ overload in the header: the C entry point's type spelled out.
  cublasStatus_t (*p_cublasGemmEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                   int, const void*, const void*, cudaDataType, int, const void*,
                                   cudaDataType, int, const void*, void*, cudaDataType, int,
                                   cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
};
// Loads the libraries once (throws rcc::Error naming the library when it cannot).
const BlasApi& blas();
// "NAME: description" of a cuBLAS status (the number when the library is not loaded).
std::string cublas_status_text(cublasStatus_t s);

// Largest power of two (<= 256) dividing the address: cuBLASLt's heuristics assume 256-byte
// aligned buffers unless told otherwise, and activations are often offset views.
int alignment_of(const void* p);

class Gemm {
 public:
  // Reads RCC_CUDA_GEMM (cublas: always cublasGemmEx, the fallback's reference for the checks),
  // RCC_CUDA_GEMM_LOG and RCC_CUDA_GEMM_TUNE (core/settings.h) when made.
  explicit Gemm(cudaStream_t stream);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // Row-major y[rows, N] = x[rows, K] · W[N, K]^T (+ bias[N]) (+ y when accumulate), x and W bf16,
  // f32 accumulation, y bf16 (or f32 when y_f32; then bias must be null). The bias is f32; from
  // kFusedBiasMinRows rows on it is added in the epilogue from a bf16 copy (see run()).
  void run(const bf16* x, int64_t rows, int64_t K, const bf16* W, int64_t N, const float* bias,
           void* y, bool y_f32, bool accumulate);
  // FP8 (spec §2.8, gemm_fp8.cu): y[rows, N] (bf16) = sx · sw · xq · Wq^T (+ bias[N]) (+ y when
  // accumulate): xq [rows, K] and Wq [N, K] E4M3 row-major, sx and sw their f32 scales (device
  // scalars), f32 accumulation (RCC_CUDA_FP8_FAST_ACCUM=1: the tensor cores' fast accumulation),
  // bias f32 (added in the epilogue from a bf16 copy). K must be a multiple of 16. Throws, naming
  // the shape, when cuBLASLt has no algorithm for it.
  void run_fp8(const uint8_t* xq, const float* sx, int64_t rows, int64_t K, const uint8_t* Wq,
               const float* sw, int64_t N, const float* bias, bf16* y, bool accumulate);
  // Which dimension of a general product is the batch's row count (it changes from call to call;
  // see plan buckets in run()). Leading dimensions must not depend on it.
  enum class Vary { None, M, N, K };
  // Column-major C[m, n] = op(A) · op(B) (+ C when accumulate), A and B bf16, f32 accumulation, C
  // bf16 or f32 (c_f32): the general product the backward passes need. cuBLASLt with a plan per
  // shape (the `vary` dimension bucketed as run()'s rows), cublasGemmEx when it has no algorithm.
  void run_general(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const bf16* A,
                   int64_t lda, const bf16* B, int64_t ldb, void* C, int64_t ldc, bool c_f32,
                   bool accumulate, Vary vary = Vary::None);
  // The bucket of a row count that plans are shared over (rows themselves below 256; then 1/16
  // of the row count's power of two, at least 128).
  static int64_t plan_rows(int64_t rows);

 private:
  // Column-major view: D[N, rows] = op_T(W as [K, N]) · x^T as [K, rows] (+ bias per row of D).
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool lt = false;             // a cuBLASLt algorithm was found
    bool bias_epilogue = false;  // the bias is added by the epilogue (else by a kernel)
    int64_t rows = 0;            // the row count the layouts b and c describe now
    // RCC_CUDA_GEMM_TUNE=1: the heuristic's other candidates, timed on the first product of the
    // shape (then cleared); `algo` becomes the fastest.
    static constexpr int kMaxCandidates = 8;
    cublasLtMatmulAlgo_t candidates[kMaxCandidates]{};
    int n_candidates = 0;
    bool launched = false;  // RCC_CUDA_GEMM_LOG: the first product was timed
  };
  // Sets the column count (the product's row count) of the layouts B [K, rows] and C [N, rows].
  void set_rows(cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, int64_t rows);
  // Times every candidate of `p` on this product (into a scratch output) and keeps the fastest.
  void tune(Plan& p, const bf16* x, int64_t rows, const bf16* W, int64_t N, bool y_f32);
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, int, int, int, int>;
  // run_general's plans: trans_a, trans_b, m, n, k (the varying one bucketed), lda, ldb, ldc,
  // c_f32, alignments of A, B, C. Plan::rows holds the actual m, n, k as dims[].
  using GeneralKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                bool, int, int, int>;
  struct GeneralPlan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool lt = false;
    int64_t m = 0, n = 0, k = 0;  // the shape the layouts describe now
    bool launched = false;        // RCC_CUDA_GEMM_LOG: the first product was timed
  };
  GeneralPlan& general_plan(const GeneralKey& key);
  // run_fp8's plans: bucketed rows, K, N, bias, alignment of y. The layouts describe `rows`.
  using Fp8Key = std::tuple<int64_t, int64_t, int64_t, bool, int>;
  struct Fp8Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool lt = false;
    int64_t rows = 0;
    bool launched = false;
  };
  Fp8Plan& fp8_plan(const Fp8Key& key, const bf16* bias16, int64_t rows);
  std::map<Fp8Key, Fp8Plan> fp8_plans_;
  bool fp8_fast_accum_;  // RCC_CUDA_FP8_FAST_ACCUM=1
  // The bf16 copy of a product's f32 bias in bias_scratch_ (grown as needed).
  const bf16* bias_bf16(const float* bias, int64_t N);
  // Sets the layouts of p to the product's actual shape (rows and columns; the leading dimensions
  // are the key's).
  void reshape(GeneralPlan& p, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k);
  std::map<GeneralKey, GeneralPlan> general_plans_;
  Plan& plan(const Key& key, const void* bias);
  bool make_lt(Plan& p, const Key& key, bool with_bias, const void* bias);
  // cuBLASLt's heuristic for op on layouts a, b, c = d (operand alignments in bytes, the shared
  // workspace): up to max_results algorithms into res, best first; how many (0: none).
  int heuristic(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                cublasLtMatrixLayout_t c, int al_a, int al_b, int al_c,
                cublasLtMatmulHeuristicResult_t* res, int max_results);
  static constexpr size_t kMaxPlanCount = 4096;  // per kind of plan: beyond, the map starts over
  static constexpr int64_t kFusedBiasMinRows = 256;
  static constexpr int64_t kPlanRowBucket = 128;  // the smallest bucket (plan_rows)
  template <class F>
  cublasStatus_t log_first_launch(bool& launched, int64_t a, int64_t b, int64_t c, F&& f);
  // Releases a Plan's or a GeneralPlan's cuBLASLt objects and clears it.
  template <class P>
  void destroy(P& p);

  const BlasApi& api = blas();  // first member: loaded before anything below is used
  cudaStream_t stream_;
  bool use_lt_;  // cuBLASLt (else always cublasGemmEx)
  bool log_;     // RCC_CUDA_GEMM_LOG=1: a line per new plan and per plan's first product
  bool tune_;    // RCC_CUDA_GEMM_TUNE=1: candidates timed on a plan's first product
  cublasLtHandle_t lt_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
  bf16* bias_scratch_ = nullptr;  // the bf16 copy of the current product's bias
  int64_t bias_scratch_n_ = 0;
};

}  // namespace rcc::cuda
