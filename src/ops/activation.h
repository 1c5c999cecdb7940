// Element-wise ops on f32 buffers.
#pragma once
#include <cstdint>

namespace rcc::ops {

// Exact GELU: 0.5 · x · (1 + erf(x / sqrt 2)), in place.
void gelu(float* x, int64_t n);
// Backward of gelu (training): dx[i] = dy[i] · gelu'(x[i]), x the forward input;
// gelu'(x) = Φ(x) + x·φ(x). dx may alias dy. (activation_backward_cpu.cpp)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
// SwiGLU (the Llama family's MLP): y[r, i] = silu(gu[r, i]) · gu[r, I + i] for gu [rows, 2I]
// (gate | up), y [rows, I]; silu(g) = g / (1 + exp(−g)) (exp by the vectorised fast_exp, relative
// error < 1e-7). y must not overlap gu.
void swiglu(const float* gu, int64_t rows, int64_t I, float* y);
// Backward of swiglu (training): dgu [rows, 2I] = (dy · up · silu'(gate) | dy · silu(gate)),
// silu'(g) = σ(g)·(1 + g·(1 − σ(g))). (activation_backward_cpu.cpp)
void swiglu_backward(const float* gu, const float* dy, float* dgu, int64_t rows, int64_t I);
// y += x
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace rcc::ops
