#include "core/settings.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace rcc {

namespace {

std::mutex g_mu;
RuntimeSettings* g_settings = nullptr;

// "1" → true, "0" or unset/empty → `otherwise`; anything else is an error.
bool flag(const char* name, const char* v, bool otherwise) {
  if (!v || !*v) return otherwise;
  if (!std::strcmp(v, "1")) return true;
  if (!std::strcmp(v, "0")) return false;
  fail(name, " must be 0 or 1 (got '", v, "')");
}

bool is(const char* v, const char* word) {
  return v && !std::strcmp(v, word);
}

}  // namespace

RuntimeSettings parse_runtime_settings(const std::function<const char*(const char*)>& get) {
  RuntimeSettings s;
  auto env = [&](const char* name) { return get(name); };
  if (const char* v = env("RCC_MODEL")) s.model = v;
  if (const char* v = env("RCC_NCCL_LIB")) s.nccl_lib = v;
  s.train_profile = flag("RCC_TRAIN_PROFILE", env("RCC_TRAIN_PROFILE"), false);

  const char* ck = env("RCC_CPU_KERNELS");
  if (!ck || !*ck || is(ck, "auto"))
    s.cpu_kernels = -1;
  else if (is(ck, "generic"))
    s.cpu_kernels = 0;
  else if (is(ck, "avx2"))
    s.cpu_kernels = 1;
  else if (is(ck, "avx512"))
    s.cpu_kernels = 2;
  else
    fail("RCC_CPU_KERNELS must be 'auto', 'avx512', 'avx2' or 'generic' (got '", ck, "')");
  s.cpu_bf16_products = flag("RCC_CPU_BF16", env("RCC_CPU_BF16"), true);

  const char* bwd = env("RCC_CUDA_ATTN_BWD");
  if (!bwd || !*bwd || is(bwd, "auto"))
    s.cuda_attn_bwd = AttnBackwardPath::Auto;
  else if (is(bwd, "mma"))
    s.cuda_attn_bwd = AttnBackwardPath::Mma;
  else if (is(bwd, "deterministic"))
    s.cuda_attn_bwd = AttnBackwardPath::Deterministic;
  else if (is(bwd, "fallback"))
    s.cuda_attn_bwd = AttnBackwardPath::Fallback;
  else
    fail("RCC_CUDA_ATTN_BWD must be 'auto', 'mma', 'deterministic' or 'fallback' (got '", bwd,
         "')");

  const char* fwd = env("RCC_CUDA_ATTN_FWD");
  if (!fwd || !*fwd || is(fwd, "auto"))
    s.cuda_attn_fwd = AttnForwardPath::Auto;
  else if (is(fwd, "mma"))
    s.cuda_attn_fwd = AttnForwardPath::Mma;
  else
    fail("RCC_CUDA_ATTN_FWD must be 'auto' or 'mma' (got '", fwd, "')");

  const char* gemm = env("RCC_CUDA_GEMM");
  RCC_CHECK(!gemm || !*gemm || is(gemm, "cublaslt") || is(gemm, "cublas"),
            "RCC_CUDA_GEMM must be 'cublaslt' or 'cublas' (got '", gemm ? gemm : "", "')");
  s.cuda_gemm_lt = !is(gemm, "cublas");
  s.cuda_fused = flag("RCC_CUDA_FUSED", env("RCC_CUDA_FUSED"), true);
  s.cuda_alloc_log = flag("RCC_CUDA_ALLOC_LOG", env("RCC_CUDA_ALLOC_LOG"), false);
  s.cuda_gemm_log = flag("RCC_CUDA_GEMM_LOG", env("RCC_CUDA_GEMM_LOG"), false);
  s.cuda_gemm_tune = flag("RCC_CUDA_GEMM_TUNE", env("RCC_CUDA_GEMM_TUNE"), false);
  s.cuda_fp8_fast_accum = flag("RCC_CUDA_FP8_FAST_ACCUM", env("RCC_CUDA_FP8_FAST_ACCUM"), false);
  return s;
}

const RuntimeSettings& runtime_settings() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_settings)
    g_settings =
        new RuntimeSettings(parse_runtime_settings([](const char* n) { return std::getenv(n); }));
  return *g_settings;
}

RuntimeSettings set_runtime_settings(const RuntimeSettings& s) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_settings)
    g_settings =
        new RuntimeSettings(parse_runtime_settings([](const char* n) { return std::getenv(n); }));
  RuntimeSettings old = *g_settings;
  *g_settings = s;
  return old;
}

}  // namespace rcc
