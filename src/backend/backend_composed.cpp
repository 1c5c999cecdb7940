// The backend ops that a backend may fuse, composed from the primitive ones (the CPU backend uses
// these; CUDA overrides them with single kernels, cuda/norm.cu and cuda/norm_backward.cu), and
// the refusal of optional ones (prepare_weight_fp8).
#include "backend/backend.h"
#include "backend/kv_cache.h"
#include "core/error.h"

namespace rcc {

Tensor Backend::prepare_weight_fp8(const Tensor& host) {
  (void)host;
  fail(
      "FP8 matrix products (--encoder-precision fp8) need the CUDA backend on a GPU with FP8 "
      "tensor cores (compute capability 9.0, Hopper); the ",
      name(), " backend computes in ", dtype_name(act_dtype()));
}

void Backend::layer_norm_pair(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                              const Tensor& b1, const Tensor& w2, const Tensor& b2, float eps,
                              void* y1, void* y2, void* x_copy) {
  if (x_copy) copy_device(x_copy, x, act_bytes(rows * H));
  layer_norm(x, rows, H, w1, b1, eps, y1);
  layer_norm(x, rows, H, w2, b2, eps, y2);
}

void Backend::layer_norm_pair_backward(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                       const Tensor& w2, float eps, const void* dy1,
                                       const void* dy2, void* dx, float* dw1, float* db1,
                                       float* dw2, float* db2) {
  layer_norm_backward(x, rows, H, w2, eps, dy2, dx, dw2, db2);
  layer_norm_backward(x, rows, H, w1, eps, dy1, dx, dw1, db1);
}

void Backend::qkv_to_cache_batch(void* qkv, std::span<const SeqSlice> seqs,
                                 const AttentionShape& sh, const Rope& rope, int64_t layer,
                                 void* q_out) {
  for (const SeqSlice& s : seqs)
    qkv_to_cache(act_at(*this, qkv, s.begin * sh.qkv_width()), s.count, sh, rope, s.cache->length(),
                 *s.cache, layer, act_at(*this, q_out, s.begin * sh.q_width()));
}

void Backend::attention_batch(const void* q, std::span<const SeqSlice> seqs, int64_t layer,
                              const AttentionShape& sh, void* out) {
  for (const SeqSlice& s : seqs) {
    const int64_t Q = sh.q_width();
    attention(act_at(*this, q, s.begin * Q), s.count, s.cache->length(), *s.cache, layer, sh,
              act_at(*this, out, s.begin * Q));
  }
}

std::vector<double> Backend::cross_entropy_parts(const float* logits, int64_t V,
                                                 std::span<const int64_t> first,
                                                 const int32_t* targets_host,
                                                 const float* weights_host, void* dlogits,
                                                 float scale) {
  check_parts(first);
  std::vector<double> out(first.size() - 1, 0.0);
  for (size_t k = 0; k + 1 < first.size(); ++k) {
    const int64_t r0 = first[k], n = first[k + 1] - r0;
    if (n == 0) continue;
    out[k] = cross_entropy(logits + r0 * V, n, V, targets_host + r0, weights_host + r0,
                           dlogits ? act_at(*this, dlogits, r0 * V) : nullptr, scale);
  }
  return out;
}

void check_parts(std::span<const int64_t> first) {
  RCC_CHECK(!first.empty() && first[0] == 0, "cross_entropy_parts: the parts must start at row 0");
  for (size_t k = 1; k < first.size(); ++k)
    RCC_CHECK(first[k] >= first[k - 1], "cross_entropy_parts: part ", k - 1,
              " ends before it starts");
}

}  // namespace rcc
