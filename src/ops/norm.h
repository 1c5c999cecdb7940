// Norms over the last dimension. LayerNorm (GPT-NeoX): y = (x - mean) / sqrt(var + eps) · w + b
// (biased variance). RMSNorm (the Llama family): y = w · (x / sqrt(mean(x²) + eps)).
#pragma once
#include <cstdint>

namespace rcc::ops {

// x, y: [rows, H] (may alias); w, b: [H].
void layer_norm(const float* x, int64_t rows, int64_t H, const float* w, const float* b, float eps,
                float* y);

// x, y: [rows, H] (may alias); w: [H]. Row r starts at x + r·x_stride and y + r·y_stride (H for
// dense rows; a head's stride inside fused rows for Qwen3's per-head q/k norms).
void rms_norm(const float* x, int64_t rows, int64_t H, const float* w, float eps, float* y,
              int64_t x_stride = -1, int64_t y_stride = -1);

// Backward of layer_norm (training). x: the forward input [rows, H]; dy: [rows, H]. Accumulates
// (+=) dx [rows, H] (may be null), dw [H] and db [H] (may be null). Mean and 1/std are recomputed
// from x in double as the forward does. dw/db are split over columns, dx over rows: no two threads
// write one element, and the result does not depend on the thread count. (norm_backward_cpu.cpp)
void layer_norm_backward(const float* x, int64_t rows, int64_t H, const float* w, float eps,
                         const float* dy, float* dx, float* dw, float* db);

// Backward of rms_norm (training). x: the forward input, dy: the output's gradient (strided as in
// rms_norm; -1: dense). Accumulates (+=) dx (may be null) and dw [H] (may be null); 1/rms is
// recomputed from x in double as the forward does. (rms_norm_backward_cpu.cpp)
void rms_norm_backward(const float* x, int64_t rows, int64_t H, const float* w, float eps,
                       const float* dy, float* dx, float* dw, int64_t x_stride = -1,
                       int64_t dy_stride = -1, int64_t dx_stride = -1);

}  // namespace rcc::ops
