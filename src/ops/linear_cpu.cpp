#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "ops/linear.h"
#include "ops/rowwise_gemm.h"

extern "C" void openblas_set_num_threads(int);

namespace rcc::ops {

void init_blas_single_threaded() {
  openblas_set_num_threads(1);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Our pool owns parallelism: BLAS threads inside pool tasks would oversubscribe the cores.
  static const bool single_threaded = (init_blas_single_threaded(), true);
  (void)single_threaded;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), alpha, A, int(lda), B,
              int(ldb), beta, C, int(ldc));
}

void linear(const float* x, int64_t rows, const Tensor& W, const Tensor* bias, float* y,
            bool accumulate) {
  RCC_CHECK(W.ndim() == 2, "linear: weight must be 2-D, got ", shape_str(W.shape()));
  const int64_t N = W.dim(0), K = W.dim(1);
  if (bias)
    RCC_CHECK(bias->dtype() == DType::F32 && bias->numel() == N, "linear: bias shape ",
              shape_str(bias->shape()), " does not match ", N, " outputs");
  const float* b = bias ? bias->f32() : nullptr;
  const DType wt = W.dtype();
  RCC_CHECK(wt == DType::F32 || wt == DType::BF16 || wt == DType::F16,
            "linear: unsupported weight dtype ", dtype_name(wt));
  if (rows <= kRowwiseRows) {
    // Few rows (decoding): the row-independent kernel, weights read in place (bf16/f16 converted
    // in registers), each thread streaming its own block of weight rows once.
    const int64_t blk = std::max<int64_t>(16, (N + num_threads() - 1) / num_threads());
    parallel_for((N + blk - 1) / blk, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) {
        const int64_t n0 = bi * blk, nn = std::min(N, n0 + blk) - n0;
        float* yp = y + n0;
        if (b && !accumulate) {
          for (int64_t r = 0; r < rows; ++r) std::copy(b + n0, b + n0 + nn, yp + r * N);
        } else if (b) {
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t n = 0; n < nn; ++n) yp[r * N + n] += b[n0 + n];
        }
        const size_t esz = dtype_size(wt);
        rowwise_gemm_nt(rows, nn, K, 1.0f, x, K,
                        static_cast<const char*>(W.raw()) + size_t(n0 * K) * esz, wt, K, yp, N,
                        b || accumulate);
      }
    });
    return;
  }
  // Column blocks of 16-aligned width; each thread owns whole blocks of output columns.
  const int64_t block =
      wt == DType::F32 ? std::max<int64_t>(64, (N + num_threads() - 1) / num_threads()) : 128;
  const int64_t nblocks = (N + block - 1) / block;
  parallel_for(nblocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> wbuf;
    for (int64_t blk = b0; blk < b1; ++blk) {
      int64_t n0 = blk * block, n1 = std::min(N, n0 + block), nn = n1 - n0;
      const float* wp;
      if (wt == DType::F32) {
        wp = W.f32() + n0 * K;
      } else {
        wbuf.resize(size_t(nn * K));
        convert_to_f32(wt, static_cast<const uint16_t*>(W.raw()) + n0 * K, wbuf.data(),
                       size_t(nn * K));
        wp = wbuf.data();
      }
      float* yp = y + n0;
      if (b && !accumulate) {
        for (int64_t r = 0; r < rows; ++r) std::copy(b + n0, b + n1, yp + r * N);
      } else if (b) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t n = 0; n < nn; ++n) yp[r * N + n] += b[n0 + n];
      }
      float beta = (b || accumulate) ? 1.0f : 0.0f;
      sgemm(false, true, rows, nn, K, 1.0f, x, K, wp, K, beta, yp, N);
    }
  });
}

}  // namespace rcc::ops
