// y[rows, N] = x[rows, K] · W[N, K]^T (+ bias[N]) (+ y when accumulate). Up to kRowwiseRows rows
// (decoding steps) go through the row-independent kernel of ops/rowwise_gemm.h — each row's result
// is the same whatever the other rows, and bf16/f16 weights are converted in registers; more rows
// through the packed GEMM (bf16/f16 converted while packing; with bf16 weights on a CPU with
// AVX512_BF16 the activations are rounded to bf16 too and multiplied in bf16 pairs, as CUDA does).
// Both are the CPU kernels chosen at run time (kernels/kernels.h). W may be F32, BF16, F16 or q8
// (ops/quant.h). Work is split over output columns on the thread pool.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace rcc::ops {

constexpr int64_t kRowwiseRows = 64;

void linear(const float* x, int64_t rows, const Tensor& W, const Tensor* bias, float* y,
            bool accumulate = false);

// Plain row-major sgemm C[M,N] = alpha · op(A) · op(B) + beta · C on the calling thread (the
// active CPU kernels' packed GEMM, kernels/kernels.h; beta 0: C is not read).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Gradients of y = x · W^T + b (training; W must be F32). dy: [rows, N]. Each output is
// accumulated (+=) and may be null when not wanted:
//   dx [rows, K] += dy · W,   dW [N, K] += dy^T · x,   db [N] += Σ_rows dy.
// dW and db are split over blocks of output columns (each thread owns whole rows of dW), dx over
// blocks of rows, so no two threads write the same element. (linear_backward_cpu.cpp)
void linear_backward(const float* x, int64_t rows, const Tensor& W, const float* dy, float* dx,
                     float* dW, float* db);

}  // namespace rcc::ops
