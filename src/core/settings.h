// Runtime switches: every RCC_* environment variable rcc reads, read once (at the first call of
// runtime_settings()), parsed and checked in one place, typed. docs/settings.md lists them.
// Command-line flags and model files (rcc.json, config.json) are not here: these are the process-
// wide switches that have no flag. A malformed value is an rcc::Error naming the variable.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace rcc {

// The attention backward on CUDA (RCC_CUDA_ATTN_BWD).
enum class AttnBackwardPath {
  Auto,           // unset, "" or "auto": the sm_90 (wgmma) kernel where it serves, else as Mma
  Mma,            // "mma": the mma.sync kernels (atomic dQ for head_dim 128, deterministic for 64)
  Deterministic,  // "deterministic": mma.sync, dQ per query tile, bit-reproducible
  Fallback,       // "fallback": the portable kernel
};

// The batched attention forward on CUDA (RCC_CUDA_ATTN_FWD).
enum class AttnForwardPath {
  Auto,  // unset, "" or "auto": the sm_90 (wgmma) kernel where it serves
  Mma,   // "mma": the mma.sync kernel
};

struct RuntimeSettings {
  std::string model;           // RCC_MODEL: the default --model directory ("" = the bundled one)
  std::string nccl_lib;        // RCC_NCCL_LIB: the NCCL library to load ("" = the loader's search)
  bool train_profile = false;  // RCC_TRAIN_PROFILE=1: wall time per phase of every step
  // RCC_CPU_KERNELS: the widest CPU kernel level to use (kernels/cpu_isa.h): -1 = "auto" (the
  // best this CPU runs), 0 = "generic", 1 = "avx2", 2 = "avx512".
  int cpu_kernels = -1;
  // RCC_CPU_BF16=0: bf16 weights keep f32 activations in products of many rows too (exact
  // products, about half the speed) instead of bf16 pair products on CPUs with AVX512_BF16.
  bool cpu_bf16_products = true;
  // CUDA backend
  AttnBackwardPath cuda_attn_bwd = AttnBackwardPath::Auto;  // RCC_CUDA_ATTN_BWD
  AttnForwardPath cuda_attn_fwd = AttnForwardPath::Auto;    // RCC_CUDA_ATTN_FWD
  bool cuda_gemm_lt = true;     // RCC_CUDA_GEMM=cublas: false (plain cuBLAS instead of cuBLASLt)
  bool cuda_fused = true;       // RCC_CUDA_FUSED=0: false (training passes unfused)
  bool cuda_alloc_log = false;  // RCC_CUDA_ALLOC_LOG=1: slow pool allocations on stderr
  bool cuda_gemm_log = false;   // RCC_CUDA_GEMM_LOG=1: one line per new GEMM shape
  bool cuda_gemm_tune = false;  // RCC_CUDA_GEMM_TUNE=1: time candidate algorithms per shape
  // RCC_CUDA_FP8_FAST_ACCUM=1: FP8 products accumulate in the tensor cores' reduced precision
  // (cuBLASLt's fast accumulation) instead of being promoted to f32 along K.
  bool cuda_fp8_fast_accum = false;
};

// The process's settings, read from the environment at the first call (thread-safe).
const RuntimeSettings& runtime_settings();

// Parses settings from an environment lookup (`get(name)` returns null when unset). Throws an
// rcc::Error naming the variable for a malformed value.
RuntimeSettings parse_runtime_settings(const std::function<const char*(const char*)>& get);

// Replaces the process's settings, for check programs that compare paths (e.g. the attention
// kernels) within one process; not for use while other threads run kernels. Returns the old ones.
RuntimeSettings set_runtime_settings(const RuntimeSettings& s);

}  // namespace rcc
