// The matrix products of gemm.h: cuBLAS and cuBLASLt loaded with dlopen (blas()), cuBLASLt plans
// per shape and alignment (rows bucketed, plan_rows), the bias in the epilogue from a bf16 copy or
// by a kernel, cublasGemmEx where cuBLASLt has no algorithm (or always, RCC_CUDA_GEMM=cublas), and
// the opt-in timing of candidate algorithms and the plan log (RCC_CUDA_GEMM_TUNE, _LOG).
#include <dlfcn.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/settings.h"
#include "cuda/gemm.h"
#include "cuda/kernels.h"

#define RCC_STR2(x) #x
#define RCC_STR(x) RCC_STR2(x)  // after macro expansion: cublasCreate -> "cublasCreate_v2"

namespace rcc::cuda {
namespace {

// dlopen by soname (LD_LIBRARY_PATH, the executable's RUNPATH, ld.so.cache), then in the toolkit
// directory found at configure time.
void* open_library(const char* soname) {
  if (void* h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) return h;
  (void)dlerror();
#ifdef RCC_CUDA_LIB_DIR
  const std::string path = std::string(RCC_CUDA_LIB_DIR) + "/" + soname;
  if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
#endif
  const char* err = dlerror();
  fail("CUDA: cannot load ", soname, " (cuBLAS ", CUBLAS_VER_MAJOR,
       ".x, needed by the CUDA backend): ", err ? err : "not found");
}

void* symbol(void* lib, const char* name, const char* soname) {
  void* p = dlsym(lib, name);
  RCC_CHECK(p != nullptr, "CUDA: ", soname, " has no symbol ", name);
  return p;
}

BlasApi load_blas() {
  const char* lt_name = "libcublasLt.so." RCC_STR(CUBLAS_VER_MAJOR);
  const char* blas_name = "libcublas.so." RCC_STR(CUBLAS_VER_MAJOR);
  void* lt = open_library(lt_name);
  void* bl = open_library(blas_name);
  BlasApi a;
#define RCC_LOAD(lib, libname, f) \
  a.p_##f = reinterpret_cast<decltype(a.p_##f)>(symbol(lib, RCC_STR(f), libname))
  RCC_LOAD(lt, lt_name, cublasLtCreate);
  RCC_LOAD(lt, lt_name, cublasLtDestroy);
  RCC_LOAD(lt, lt_name, cublasLtMatmulDescCreate);
  RCC_LOAD(lt, lt_name, cublasLtMatmulDescDestroy);
  RCC_LOAD(lt, lt_name, cublasLtMatmulDescSetAttribute);
  RCC_LOAD(lt, lt_name, cublasLtMatrixLayoutCreate);
  RCC_LOAD(lt, lt_name, cublasLtMatrixLayoutDestroy);
  RCC_LOAD(lt, lt_name, cublasLtMatrixLayoutSetAttribute);
  RCC_LOAD(lt, lt_name, cublasLtMatmulPreferenceCreate);
  RCC_LOAD(lt, lt_name, cublasLtMatmulPreferenceSetAttribute);
  RCC_LOAD(lt, lt_name, cublasLtMatmulPreferenceDestroy);
  RCC_LOAD(lt, lt_name, cublasLtMatmulAlgoGetHeuristic);
  RCC_LOAD(lt, lt_name, cublasLtMatmul);
  RCC_LOAD(bl, blas_name, cublasCreate);
  RCC_LOAD(bl, blas_name, cublasDestroy);
  RCC_LOAD(bl, blas_name, cublasSetStream);
  RCC_LOAD(bl, blas_name, cublasSetWorkspace);
  RCC_LOAD(bl, blas_name, cublasGetStatusName);
  RCC_LOAD(bl, blas_name, cublasGetStatusString);
  RCC_LOAD(bl, blas_name, cublasGemmEx);
#undef RCC_LOAD
  return a;  // the libraries stay loaded for the life of the process
}

BlasApi* g_blas = nullptr;
std::mutex g_blas_mu;

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's recommendation for Hopper
// RCC_CUDA_GEMM_TUNE=1 (up to Plan::kMaxCandidates algorithms timed per shape): the largest output
// (scratch) a timing may allocate.
constexpr size_t kTuneMaxBytes = size_t(512) << 20;

}  // namespace

int alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  int al = 256;
  while (al > 1 && (a % uintptr_t(al)) != 0) al /= 2;
  return al;
}

const BlasApi& blas() {
  std::lock_guard<std::mutex> lock(g_blas_mu);
  if (!g_blas) g_blas = new BlasApi(load_blas());  // retried on the next call if it threw
  return *g_blas;
}

std::string cublas_status_text(cublasStatus_t s) {
  {
    std::lock_guard<std::mutex> lock(g_blas_mu);
    if (g_blas)
      return str_cat(g_blas->p_cublasGetStatusName(s), ": ", g_blas->p_cublasGetStatusString(s));
  }
  return str_cat("cuBLAS status ", int(s));
}

Gemm::Gemm(cudaStream_t stream)
    : stream_(stream),
      use_lt_(runtime_settings().cuda_gemm_lt),
      log_(runtime_settings().cuda_gemm_log),
      tune_(runtime_settings().cuda_gemm_tune),
      fp8_fast_accum_(runtime_settings().cuda_fp8_fast_accum) {
  RCC_CUDA_CHECK(cudaMalloc(&workspace_, kWorkspaceBytes));
  workspace_bytes_ = kWorkspaceBytes;
  RCC_CUBLAS_CHECK(api.p_cublasLtCreate(&lt_));
  RCC_CUBLAS_CHECK(api.p_cublasCreate(&blas_));
  RCC_CUBLAS_CHECK(api.p_cublasSetStream(blas_, stream_));
  RCC_CUBLAS_CHECK(api.p_cublasSetWorkspace(blas_, workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
  for (auto& kv : plans_) destroy(kv.second);
  for (auto& kv : general_plans_) destroy(kv.second);
  for (auto& kv : fp8_plans_) destroy(kv.second);
  if (blas_) api.p_cublasDestroy(blas_);
  if (lt_) api.p_cublasLtDestroy(lt_);
  if (workspace_) cudaFree(workspace_);
  if (bias_scratch_) cudaFree(bias_scratch_);
}

// Both plan kinds hold the same cuBLASLt objects: the three layouts and the operation.
template <class P>
void Gemm::destroy(P& p) {
  if (p.a) api.p_cublasLtMatrixLayoutDestroy(p.a);
  if (p.b) api.p_cublasLtMatrixLayoutDestroy(p.b);
  if (p.c) api.p_cublasLtMatrixLayoutDestroy(p.c);
  if (p.op) api.p_cublasLtMatmulDescDestroy(p.op);
  p = P{};
}

template void Gemm::destroy<Gemm::Fp8Plan>(Fp8Plan&);  // used by gemm_fp8.cu

// RCC_CUDA_GEMM_LOG=1: the host time of a plan's first product (cuBLAS may load its kernel then).
template <class F>
cublasStatus_t Gemm::log_first_launch(bool& launched, int64_t a, int64_t b, int64_t c, F&& f) {
  if (launched || !log_) return f();
  launched = true;
  const auto t0 = std::chrono::steady_clock::now();
  const cublasStatus_t st = f();
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "gemm %lld x %lld x %lld: first product %.0f us of host time\n",
               (long long)a, (long long)b, (long long)c, us);
  return st;
}

// Buckets of 1/16 of the row count's power of two (128 rows up to 4095, 1024 rows at 16k): a
// training run's row counts drift within a few percent from step to step, and each new bucket
// costs a heuristic query plus, at its first product, possibly a kernel cuBLAS has not loaded
// yet (milliseconds of host time with the GPU idle; bench/results/training_gpu.md).
int64_t Gemm::plan_rows(int64_t rows) {
  if (rows < kFusedBiasMinRows) return rows;
  const int64_t bucket =
      std::max<int64_t>(kPlanRowBucket, int64_t(std::bit_floor(uint64_t(rows))) / 16);
  return (rows + bucket - 1) / bucket * bucket;
}

int Gemm::heuristic(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                    cublasLtMatrixLayout_t c, int al_a, int al_b, int al_c,
                    cublasLtMatmulHeuristicResult_t* res, int max_results) {
  cublasLtMatmulPreference_t pref = nullptr;
  RCC_CUBLAS_CHECK(api.p_cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes_;
  const uint32_t aa = uint32_t(al_a), ab = uint32_t(al_b), ac = uint32_t(al_c);
  api.p_cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                             sizeof(ws));
  api.p_cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa,
                                             sizeof(aa));
  api.p_cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab,
                                             sizeof(ab));
  api.p_cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac,
                                             sizeof(ac));
  api.p_cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac,
                                             sizeof(ac));
  std::memset(res, 0, sizeof(*res) * size_t(max_results));
  int found = 0;
  const cublasStatus_t st =
      api.p_cublasLtMatmulAlgoGetHeuristic(lt_, op, a, b, c, c, pref, max_results, res, &found);
  api.p_cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0 || res[0].state != CUBLAS_STATUS_SUCCESS) return 0;
  return found;
}

// Builds the cuBLASLt descriptors for one shape and asks the heuristic for the best algorithm.
// Returns false (descriptors destroyed) when cuBLASLt has none for it.
bool Gemm::make_lt(Plan& p, const Key& key, bool with_bias, const void* bias) {
  const auto [rows, K, N, has_bias, y_f32, al_x, al_w, al_y, al_bias] = key;
  (void)has_bias;
  RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (with_bias) {
    // A bf16 bias: cuBLASLt has no bias-epilogue algorithm for bf16 outputs with an f32 bias.
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const int32_t bias_type = CUDA_R_16BF;
    RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                          sizeof(epi)));
    RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                          &bias_type, sizeof(bias_type)));
    RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                          &bias, sizeof(bias)));
  }
  // A = W stored [N, K] row-major = column-major [K, N] (ld K), used transposed;
  // B = x stored [rows, K] row-major = column-major [K, rows] (ld K);
  // C = D = y stored [rows, N] row-major = column-major [N, rows] (ld N).
  const cudaDataType_t yt = y_f32 ? CUDA_R_32F : CUDA_R_16BF;
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(K), uint64_t(N), K));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(K), uint64_t(rows), K));
  RCC_CUBLAS_CHECK(api.p_cublasLtMatrixLayoutCreate(&p.c, yt, uint64_t(N), uint64_t(rows), N));

  (void)al_bias;  // the bias pointer itself is passed above: the heuristic reads its alignment
  cublasLtMatmulHeuristicResult_t res[Plan::kMaxCandidates];
  const int found =
      heuristic(p.op, p.a, p.b, p.c, al_w, al_x, al_y, res, tune_ ? Plan::kMaxCandidates : 1);
  if (found == 0) {
    destroy(p);
    return false;
  }
  p.algo = res[0].algo;  // the heuristic's first choice
  p.lt = true;
  p.rows = rows;
  p.bias_epilogue = with_bias;
  if (found > 1)
    for (int i = 0; i < found; ++i)
      if (res[i].state == CUBLAS_STATUS_SUCCESS) p.candidates[p.n_candidates++] = res[i].algo;
  return true;
}

Gemm::Plan& Gemm::plan(const Key& key, const void* bias) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  if (plans_.size() >= kMaxPlanCount) {  // many distinct shapes (varying row counts): start over
    for (auto& kv : plans_) destroy(kv.second);
    plans_.clear();
  }
  Plan p;
  const auto t0 = std::chrono::steady_clock::now();
  if (use_lt_) {
    const bool has_bias = std::get<3>(key);
    if (!(has_bias && make_lt(p, key, true, bias))) make_lt(p, key, false, nullptr);
  }
  if (log_) {
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    const auto [rows, K, N, has_bias, y_f32, al_x, al_w, al_y, al_bias] = key;
    std::fprintf(stderr,
                 "gemm rows %lld K %lld N %lld bias %d f32 %d align x %d w %d y %d bias %d: %s "
                 "(planned in %.0f us)\n",
                 (long long)rows, (long long)K, (long long)N, int(has_bias), int(y_f32), al_x, al_w,
                 al_y, al_bias,
                 !p.lt             ? "cublasGemmEx"
                 : p.bias_epilogue ? "cuBLASLt, bias epilogue"
                 : has_bias        ? "cuBLASLt + bias kernel"
                                   : "cuBLASLt",
                 us);
  }
  return plans_.emplace(key, p).first->second;
}

void Gemm::run(const bf16* x, int64_t rows, int64_t K, const bf16* W, int64_t N, const float* bias,
               void* y, bool y_f32, bool accumulate) {
  if (rows <= 0 || N <= 0) return;
  RCC_CHECK(!(y_f32 && bias), "CUDA gemm: f32 output takes no bias");
  RCC_CHECK(rows < (int64_t(1) << 31) && K < (int64_t(1) << 31) && N < (int64_t(1) << 31),
            "CUDA gemm: dimensions too large (", rows, " x ", K, " x ", N, ")");
  if (K == 0) {  // empty product: y = (accumulate ? y : 0) + bias
    if (!accumulate) {
      RCC_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(rows * N) * (y_f32 ? 4 : 2), stream_));
    }
    if (bias) launch_add_bias(static_cast<bf16*>(y), rows, N, bias, stream_);
    return;
  }
  // Products of >= kFusedBiasMinRows rows add the bias in cuBLASLt's epilogue, from a bf16 copy
  // made just before (as PyTorch's autocast rounds a linear's bias to bf16; the epilogue adds it in
  // f32); smaller ones (decoding) add the exact f32 bias with a kernel, which costs them less than
  // the conversion would.
  const bool fuse_bias = bias && use_lt_ && rows >= kFusedBiasMinRows;
  const bf16* bias16 = fuse_bias ? bias_bf16(bias, N) : nullptr;
  // Products of many rows share a plan per bucket of kPlanRowBucket rows (the decoder's row count
  // changes every training step, and a heuristic query costs many launches' worth of host time):
  // the bucket's algorithm runs on the actual shape, whose row count is set on the layouts. An
  // algorithm that cuBLASLt refuses for the actual shape falls back to that shape's own plan.
  const int64_t bucket = plan_rows(rows);
  const Key key{bucket,
                K,
                N,
                fuse_bias,
                y_f32,
                alignment_of(x),
                alignment_of(W),
                alignment_of(y),
                fuse_bias ? alignment_of(bias16) : 0};
  Plan* pp = &plan(key, bias16);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  auto launch = [&](Plan& p) {
    if (p.bias_epilogue) {
      RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                            &bias16, sizeof(bias16)));
    }
    if (p.rows != rows) {  // B is [K, rows], C = D [N, rows] (column-major)
      set_rows(p.b, p.c, rows);
      p.rows = rows;
    }
    if (p.n_candidates > 0) tune(p, x, rows, W, N, y_f32);
    return log_first_launch(p.launched, rows, K, N, [&] {
      return api.p_cublasLtMatmul(lt_, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                  workspace_, workspace_bytes_, stream_);
    });
  };
  if (pp->lt) {
    cublasStatus_t st = launch(*pp);
    if (st != CUBLAS_STATUS_SUCCESS && bucket != rows) {  // the bucket's algorithm refused
      Key exact = key;
      std::get<0>(exact) = rows;
      pp = &plan(exact, bias16);
      st = pp->lt ? launch(*pp) : st;
    }
    if (pp->lt) RCC_CUBLAS_CHECK(st);
  }
  Plan& p = *pp;
  if (!p.lt) {
    RCC_CUBLAS_CHECK(api.p_cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(rows), int(K),
                                        &alpha, W, CUDA_R_16BF, int(K), x, CUDA_R_16BF, int(K),
                                        &beta, y, y_f32 ? CUDA_R_32F : CUDA_R_16BF, int(N),
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  if (bias && !(p.lt && p.bias_epilogue))
    launch_add_bias(static_cast<bf16*>(y), rows, N, bias, stream_);
}

void Gemm::set_rows(cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, int64_t rows) {
  const uint64_t cols = uint64_t(rows);
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutSetAttribute(b, CUBLASLT_MATRIX_LAYOUT_COLS, &cols, sizeof(cols)));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatrixLayoutSetAttribute(c, CUBLASLT_MATRIX_LAYOUT_COLS, &cols, sizeof(cols)));
}

const bf16* Gemm::bias_bf16(const float* bias, int64_t N) {
  if (bias_scratch_n_ < N) {
    if (bias_scratch_) RCC_CUDA_CHECK(cudaFree(bias_scratch_));  // synchronises: growth only
    bias_scratch_ = nullptr;
    RCC_CUDA_CHECK(cudaMalloc(&bias_scratch_, size_t(N) * sizeof(bf16)));
    bias_scratch_n_ = N;
  }
  // Stream order: the previous product has read the scratch before this conversion runs.
  launch_convert_to_bf16(DType::F32, bias, bias_scratch_, N, stream_);
  return bias_scratch_;
}

void Gemm::tune(Plan& p, const bf16* x, int64_t rows, const bf16* W, int64_t N, bool y_f32) {
  const int n = p.n_candidates;
  p.n_candidates = 0;  // once per shape, whatever happens below
  const size_t bytes = size_t(rows) * size_t(N) * (y_f32 ? 4 : 2);
  if (bytes > kTuneMaxBytes) return;
  // The output goes to a scratch buffer with beta = 0, so products that accumulate into y are
  // timed without touching it (the algorithms chosen serve beta = 0 and 1 alike).
  void* scratch = nullptr;
  if (cudaMalloc(&scratch, bytes) != cudaSuccess) {
    (void)cudaGetLastError();  // no room to time: keep the heuristic's choice
    return;
  }
  cudaEvent_t e0, e1;
  RCC_CUDA_CHECK(cudaEventCreate(&e0));
  RCC_CUDA_CHECK(cudaEventCreate(&e1));
  const float alpha = 1.0f, beta = 0.0f;
  float best = INFINITY;
  for (int c = 0; c < n; ++c) {
    const cublasLtMatmulAlgo_t algo = p.candidates[c];
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; ++i) {  // a warm-up, then 3 timed
      if (i == 1) RCC_CUDA_CHECK(cudaEventRecord(e0, stream_));
      st = api.p_cublasLtMatmul(lt_, p.op, &alpha, W, p.a, x, p.b, &beta, scratch, p.c, scratch,
                                p.c, &algo, workspace_, workspace_bytes_, stream_);
    }
    if (st != CUBLAS_STATUS_SUCCESS) continue;  // an unusable candidate is skipped
    RCC_CUDA_CHECK(cudaEventRecord(e1, stream_));
    RCC_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    RCC_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    if (ms < best) {
      best = ms;
      p.algo = algo;
    }
  }
  RCC_CUDA_CHECK(cudaEventDestroy(e0));
  RCC_CUDA_CHECK(cudaEventDestroy(e1));
  RCC_CUDA_CHECK(cudaFree(scratch));
}

void Gemm::reshape(GeneralPlan& p, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  if (p.m == m && p.n == n && p.k == k) return;
  // A is stored m×k (k×m when transposed), B k×n (n×k), C m×n: rows then columns.
  auto set = [&](cublasLtMatrixLayout_t l, int64_t rows, int64_t cols) {
    const uint64_t r = uint64_t(rows), c = uint64_t(cols);
    RCC_CUBLAS_CHECK(
        api.p_cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_ROWS, &r, sizeof(r)));
    RCC_CUBLAS_CHECK(
        api.p_cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_COLS, &c, sizeof(c)));
  };
  set(p.a, trans_a ? k : m, trans_a ? m : k);
  set(p.b, trans_b ? n : k, trans_b ? k : n);
  set(p.c, m, n);
  p.m = m;
  p.n = n;
  p.k = k;
}

Gemm::GeneralPlan& Gemm::general_plan(const GeneralKey& key) {
  auto it = general_plans_.find(key);
  if (it != general_plans_.end()) return it->second;
  if (general_plans_.size() >= kMaxPlanCount) {
    for (auto& kv : general_plans_) destroy(kv.second);
    general_plans_.clear();
  }
  const auto [ta, tb, m, n, k, lda, ldb, ldc, c_f32, al_a, al_b, al_c] = key;
  GeneralPlan p;
  const auto t0 = std::chrono::steady_clock::now();
  RCC_CUBLAS_CHECK(api.p_cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                          opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)));
  RCC_CUBLAS_CHECK(
      api.p_cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)));
  RCC_CUBLAS_CHECK(api.p_cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(ta ? k : m),
                                                    uint64_t(ta ? m : k), lda));
  RCC_CUBLAS_CHECK(api.p_cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(tb ? n : k),
                                                    uint64_t(tb ? k : n), ldb));
  RCC_CUBLAS_CHECK(api.p_cublasLtMatrixLayoutCreate(&p.c, c_f32 ? CUDA_R_32F : CUDA_R_16BF,
                                                    uint64_t(m), uint64_t(n), ldc));
  p.m = m;
  p.n = n;
  p.k = k;
  cublasLtMatmulHeuristicResult_t res;
  const int found = heuristic(p.op, p.a, p.b, p.c, al_a, al_b, al_c, &res, 1);
  if (found > 0) {
    p.algo = res.algo;
    p.lt = true;
  } else {
    destroy(p);  // cublasGemmEx serves the shape
  }
  if (log_) {
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr,
                 "general gemm %c%c m %lld n %lld k %lld ld %lld %lld %lld f32 %d: %s (planned in "
                 "%.0f us)\n",
                 ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k,
                 (long long)lda, (long long)ldb, (long long)ldc, int(c_f32),
                 p.lt ? "cuBLASLt" : "cublasGemmEx", us);
  }
  return general_plans_.emplace(key, p).first->second;
}

void Gemm::run_general(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const bf16* A,
                       int64_t lda, const bf16* B, int64_t ldb, void* C, int64_t ldc, bool c_f32,
                       bool accumulate, Vary vary) {
  if (m <= 0 || n <= 0) return;
  RCC_CHECK(m < (int64_t(1) << 31) && n < (int64_t(1) << 31) && k < (int64_t(1) << 31) &&
                lda < (int64_t(1) << 31) && ldb < (int64_t(1) << 31) && ldc < (int64_t(1) << 31),
            "CUDA gemm: dimensions too large (", m, " x ", n, " x ", k, ")");
  if (k == 0) {
    if (!accumulate) {
      RCC_CHECK(ldc == m, "CUDA gemm: empty product into a strided C");
      RCC_CUDA_CHECK(cudaMemsetAsync(C, 0, size_t(m * n) * (c_f32 ? 4 : 2), stream_));
    }
    return;
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  if (use_lt_) {
    // The plan of the bucketed shape (cublasGemmEx would run its own heuristic, milliseconds of
    // host time, for every new shape: training's row counts change every step).
    const int64_t bm = vary == Vary::M ? plan_rows(m) : m;
    const int64_t bn = vary == Vary::N ? plan_rows(n) : n;
    const int64_t bk = vary == Vary::K ? plan_rows(k) : k;
    GeneralKey key{
        trans_a,         trans_b,        bm, bn, bk, lda, ldb, ldc, c_f32, alignment_of(A),
        alignment_of(B), alignment_of(C)};
    for (int attempt = 0; attempt < 2; ++attempt) {
      GeneralPlan& p = general_plan(key);
      if (!p.lt) break;
      reshape(p, trans_a, trans_b, m, n, k);
      const cublasStatus_t st = log_first_launch(p.launched, m, n, k, [&] {
        return api.p_cublasLtMatmul(lt_, p.op, &alpha, A, p.a, B, p.b, &beta, C, p.c, C, p.c,
                                    &p.algo, workspace_, workspace_bytes_, stream_);
      });
      if (st == CUBLAS_STATUS_SUCCESS) return;
      const bool exact = std::get<2>(key) == m && std::get<3>(key) == n && std::get<4>(key) == k;
      if (exact) RCC_CUBLAS_CHECK(st);
      std::get<2>(key) = m;  // the bucket's algorithm refused this shape: the shape's own plan
      std::get<3>(key) = n;
      std::get<4>(key) = k;
    }
  }
  RCC_CUBLAS_CHECK(api.p_cublasGemmEx(
      blas_, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, int(m),
      int(n), int(k), &alpha, A, CUDA_R_16BF, int(lda), B, CUDA_R_16BF, int(ldb), &beta, C,
      c_f32 ? CUDA_R_32F : CUDA_R_16BF, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace rcc::cuda
