// The CPU backend: activations and KV caches in f32 host memory, ops from src/ops (OpenBLAS for the
// matrix products, our vectorised loops on the thread pool for the rest).
#include <cstdlib>
#include <cstring>

#include "backend/backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/rotary.h"

namespace rcc {
namespace {

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::CPU; }
  std::string name() const override { return str_cat("cpu (", num_threads(), " threads)"); }
  DType act_dtype() const override { return DType::F32; }
  DType kv_dtype(bool eight_bit) const override {
    if (eight_bit)
      throw Error("8-bit KV caches are a CUDA option; the CPU keeps keys/values in f32");
    return DType::F32;
  }

  void* alloc(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw Error(str_cat("out of host memory allocating ", bytes, " bytes"));
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void copy_to_device(void* dst, const void* src, size_t n) override { copy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, size_t n) override { copy(dst, src, n); }
  void copy_device(void* dst, const void* src, size_t n) override { copy(dst, src, n); }
  void copy_rows(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes,
                 int64_t rows) override {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(dst) + size_t(r) * dst_pitch,
                  static_cast<const char*>(src) + size_t(r) * src_pitch, row_bytes);
  }
  void synchronize() override {}

  Tensor prepare_weight(const Tensor& host) override { return host; }

  void upload_f32(const float* host, int64_t n, void* dev) override {
    copy(dev, host, size_t(n) * 4);
  }
  void download_f32(const void* dev, int64_t n, float* host) override {
    copy(host, dev, size_t(n) * 4);
  }

  void embed(const Tensor& table, const int32_t* ids, int64_t n, void* out) override {
    const int64_t H = table.dim(1);
    const DType t = table.dtype();
    const char* base = static_cast<const char*>(table.raw());
    float* o = static_cast<float*>(out);
    for (int64_t i = 0; i < n; ++i)
      convert_to_f32(t, base + size_t(ids[i]) * size_t(H) * dtype_size(t), o + i * H, size_t(H));
  }
  void gather_rows(const void* src, int64_t src_stride, const int64_t* idx, int64_t n,
                   int64_t width, void* dst, int64_t dst_stride) override {
    const float* s = static_cast<const float*>(src);
    float* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(d + i * dst_stride, s + idx[i] * src_stride, size_t(width) * 4);
  }
  void layer_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, const Tensor& b,
                  float eps, void* y) override {
    ops::layer_norm(f(x), rows, H, w.f32(), b.f32(), eps, f(y));
  }
  void linear(const void* x, int64_t rows, const Tensor& W, const Tensor* bias, void* y,
              bool accumulate) override {
    ops::linear(f(x), rows, W, bias, f(y), accumulate);
  }
  void linear_f32_host(const void* x, int64_t rows, const Tensor& W, float* y) override {
    ops::linear(f(x), rows, W, nullptr, y);
  }
  void gelu(void* x, int64_t n) override { ops::gelu(f(x), n); }
  void add(void* y, const void* x, int64_t n) override { ops::add_inplace(f(y), f(x), n); }

  void qkv_to_cache(void* qkv, int64_t rows, int64_t nh, int64_t hd, int64_t rot, double base,
                    int64_t pos0, KVCache& c, int64_t layer, void* q_out) override {
    float* sq = f(qkv);
    ops::rotary_qkv(sq, rows, nh, hd, rot, pos0, base);
    // Split the per-head [q | k | v] rows: q to a dense [rows, H] buffer, k and v into the cache.
    const int64_t H = nh * hd;
    float* kc = c.k(layer) + pos0 * H;
    float* vc = c.v(layer) + pos0 * H;
    float* q = f(q_out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < nh; ++h) {
        const float* src = sq + r * 3 * H + h * 3 * hd;
        std::memcpy(q + r * H + h * hd, src, size_t(hd) * 4);
        std::memcpy(kc + r * H + h * hd, src + hd, size_t(hd) * 4);
        std::memcpy(vc + r * H + h * hd, src + 2 * hd, size_t(hd) * 4);
      }
  }
  void attention(const void* q, int64_t rows, int64_t past, const KVCache& c, int64_t layer,
                 void* out) override {
    const int64_t H = c.width();
    ops::causal_attention(f(q), H, c.k(layer), c.v(layer), H, rows, past, c.heads(), c.head_dim(),
                          f(out));
  }

 private:
  static float* f(void* p) { return static_cast<float*>(p); }
  static const float* f(const void* p) { return static_cast<const float*>(p); }
  static void copy(void* dst, const void* src, size_t n) {
    if (n && dst != src) std::memmove(dst, src, n);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend be;
  return be;
}

}  // namespace rcc
