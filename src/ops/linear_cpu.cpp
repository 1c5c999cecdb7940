#include <algorithm>
#include <vector>

#include "core/settings.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "ops/linear.h"
#include "ops/rowwise_gemm.h"

namespace rcc::ops {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // A(i, k) and B(k, n) as strides of the row-major operands.
  kernels::kernels().gemm(M, N, K, alpha, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, DType::F32,
                          trans_b ? 1 : ldb, trans_b ? ldb : 1, beta, C, ldc, nullptr);
}

namespace {

// y[:, n0 : n0 + nn] before a row-wise product accumulates into it: the bias (or + bias) where
// there is one. Returns whether the product must add to y (bias or accumulate).
bool prepare_output(float* yp, int64_t rows, int64_t N, const float* b, int64_t n0, int64_t nn,
                    bool accumulate) {
  if (b && !accumulate) {
    for (int64_t r = 0; r < rows; ++r) std::copy(b + n0, b + n0 + nn, yp + r * N);
  } else if (b) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < nn; ++n) yp[r * N + n] += b[n0 + n];
  }
  return b || accumulate;
}

// Int8 weights (ops/quant.h). Few rows: the row-independent int8 kernel, each thread streaming
// its block of weight rows once; many rows: blocks of 256 weight rows dequantized to f32 for the
// packed GEMM.
void linear_q8(const float* x, int64_t rows, const Tensor& W, const float* b, float* y,
               bool accumulate) {
  const int64_t N = W.dim(0), K = W.dim(1), blocks = K / kQuantBlock;
  const int8_t* q = static_cast<const int8_t*>(W.raw());
  const uint16_t* d = static_cast<const uint16_t*>(W.block_scales().raw());
  const kernels::Kernels& kern = kernels::kernels();
  if (rows <= kRowwiseRows) {
    const int64_t blk = std::max<int64_t>(16, (N + num_threads() - 1) / num_threads());
    parallel_for((N + blk - 1) / blk, [&](int64_t b0, int64_t b1) {
      thread_local std::vector<int8_t> xq;
      thread_local std::vector<float> xd;
      if (int64_t(xq.size()) < rows * K) xq.resize(size_t(rows * K));
      if (int64_t(xd.size()) < rows * blocks) xd.resize(size_t(rows * blocks));
      for (int64_t bi = b0; bi < b1; ++bi) {
        const int64_t n0 = bi * blk, nn = std::min(N, n0 + blk) - n0;
        const bool add = prepare_output(y + n0, rows, N, b, n0, nn, accumulate);
        kern.q8_rows(rows, nn, K, x, K, q + n0 * K, d + n0 * blocks, y + n0, N, add, xq.data(),
                     xd.data());
      }
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  parallel_for((N + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> wf;
    if (int64_t(wf.size()) < kBlock * K) wf.resize(size_t(kBlock * K));
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * kBlock, nn = std::min(N, n0 + kBlock) - n0;
      for (int64_t blk = 0; blk < nn * blocks; ++blk) {  // one scale per 32 values
        const float scale = f16_to_f32(d[n0 * blocks + blk]);
        const int8_t* src = q + n0 * K + blk * kQuantBlock;
        float* dst = wf.data() + blk * kQuantBlock;
#pragma omp simd
        for (int64_t i = 0; i < kQuantBlock; ++i) dst[i] = float(src[i]) * scale;
      }
      kern.gemm(rows, nn, K, 1.0f, x, K, 1, wf.data(), DType::F32, 1, K, accumulate ? 1.0f : 0.0f,
                y + n0, N, b ? b + n0 : nullptr);
    }
  });
}

}  // namespace

void linear(const float* x, int64_t rows, const Tensor& W, const Tensor* bias, float* y,
            bool accumulate) {
  RCC_CHECK(W.ndim() == 2, "linear: weight must be 2-D, got ", shape_str(W.shape()));
  const int64_t N = W.dim(0), K = W.dim(1);
  if (bias)
    RCC_CHECK(bias->dtype() == DType::F32 && bias->numel() == N, "linear: bias shape ",
              shape_str(bias->shape()), " does not match ", N, " outputs");
  const float* b = bias ? bias->f32() : nullptr;
  if (W.quantized()) return linear_q8(x, rows, W, b, y, accumulate);
  const DType wt = W.dtype();
  RCC_CHECK(wt == DType::F32 || wt == DType::BF16 || wt == DType::F16,
            "linear: unsupported weight dtype ", dtype_name(wt), " (F32, BF16, F16 or q8)");
  if (rows <= kRowwiseRows) {
    // Few rows (decoding): the row-independent kernel, weights read in place (bf16/f16 converted
    // in registers), each thread streaming its own block of weight rows once.
    const int64_t blk = std::max<int64_t>(16, (N + num_threads() - 1) / num_threads());
    parallel_for((N + blk - 1) / blk, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) {
        const int64_t n0 = bi * blk, nn = std::min(N, n0 + blk) - n0;
        const bool add = prepare_output(y + n0, rows, N, b, n0, nn, accumulate);
        rowwise_gemm_nt(rows, nn, K, 1.0f, x, K,
                        static_cast<const char*>(W.raw()) + size_t(n0 * K) * dtype_size(wt), wt, K,
                        y + n0, N, add);
      }
    });
    return;
  }
  // Many rows (prefill, encoder windows): the packed GEMM, bf16/f16 converted while packing.
  // Each thread owns whole blocks of output columns (a multiple of 32, one per thread or more
  // for load balance), so A is packed once per block.
  const int64_t per = (N + num_threads() - 1) / num_threads();
  const int64_t block = std::max<int64_t>(64, (per + 31) / 32 * 32);
  const int64_t nblocks = (N + block - 1) / block;
  const kernels::Kernels& kern = kernels::kernels();
  // bf16 weights: bf16 pair products where the CPU has them (kernels.h gemm_bf16), unless
  // RCC_CPU_BF16=0 (core/settings.h).
  const bool pairs = wt == DType::BF16 && kern.gemm_bf16 && runtime_settings().cpu_bf16_products;
  const kernels::Gemm gemm = pairs ? kern.gemm_bf16 : kern.gemm;
  parallel_for(nblocks, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * block, n1 = std::min(N, n0 + block), nn = n1 - n0;
      const char* wp = static_cast<const char*>(W.raw()) + size_t(n0 * K) * dtype_size(wt);
      gemm(rows, nn, K, 1.0f, x, K, 1, wp, wt, 1, K, accumulate ? 1.0f : 0.0f, y + n0, N,
           b ? b + n0 : nullptr);
    }
  });
}

}  // namespace rcc::ops
