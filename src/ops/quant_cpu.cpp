#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/quant.h"

namespace rcc::ops {

bool q8_eligible(const Tensor& t) {
  const DType d = t.dtype();
  return t.defined() && !t.quantized() && t.ndim() == 2 && t.dim(1) > 0 &&
         t.dim(1) % kQuantBlock == 0 && (d == DType::F32 || d == DType::BF16 || d == DType::F16);
}

Tensor quantize_q8(const Tensor& w) {
  RCC_CHECK(q8_eligible(w), "q8: cannot quantize a ", dtype_name(w.dtype()), " tensor of shape ",
            shape_str(w.shape()), " (a float matrix with rows a multiple of ", kQuantBlock,
            " long is needed)");
  const int64_t N = w.dim(0), K = w.dim(1), blocks = K / kQuantBlock;
  Tensor q = Tensor::empty(DType::I8, {N, K});
  Tensor d = Tensor::empty(DType::F16, {N, blocks});
  int8_t* qp = static_cast<int8_t*>(q.raw());
  uint16_t* dp = static_cast<uint16_t*>(d.raw());
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t n = n0; n < n1; ++n) {
      convert_to_f32(w.dtype(),
                     static_cast<const char*>(w.raw()) + size_t(n * K) * dtype_size(w.dtype()),
                     row.data(), size_t(K));
      for (int64_t b = 0; b < blocks; ++b) {
        const float* s = row.data() + b * kQuantBlock;
        float amax = 0.0f;
        for (int64_t i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(s[i]));
        RCC_CHECK(std::isfinite(amax), "q8: weight row ", n, " has a non-finite value");
        const uint16_t h = f32_to_f16(amax / 127.0f);
        const float scale = f16_to_f32(h);
        dp[n * blocks + b] = h;
        int8_t* out = qp + n * K + b * kQuantBlock;
        for (int64_t i = 0; i < kQuantBlock; ++i)
          out[i] = scale > 0.0f ? int8_t(std::clamp(std::nearbyint(s[i] / scale), -127.0f, 127.0f))
                                : int8_t(0);
      }
    }
  });
  return q.with_block_scales(std::move(d));
}

}  // namespace rcc::ops
