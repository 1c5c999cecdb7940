// The CPU backend: activations and KV caches in f32 host memory, ops from src/ops (the kernels of
// src/kernels for the matrix products, vectorised loops on the thread pool for the rest).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/kv_cache.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/embedding_backward.h"
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
  void gelu(const void* x, void* y, int64_t n) override {
    if (x != y) std::memcpy(y, x, size_t(n) * 4);
    ops::gelu(f(y), n);
  }
  void add(void* y, const void* x, int64_t n) override { ops::add_inplace(f(y), f(x), n); }

  void rms_norm(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                void* y) override {
    ops::rms_norm(f(x), rows, H, w.f32(), eps, f(y));
  }
  void head_rms_norm(void* qkv, int64_t rows, const AttentionShape& s, const Tensor& qw,
                     const Tensor& kw, float eps) override {
    // Every head of every row is one norm row: rows of q heads, then of k heads.
    for (int64_t h = 0; h < s.heads; ++h)
      ops::rms_norm(f(qkv) + s.q_at(h), rows, s.hd, qw.f32(), eps, f(qkv) + s.q_at(h),
                    s.qkv_width(), s.qkv_width());
    for (int64_t j = 0; j < s.kv_heads; ++j)
      ops::rms_norm(f(qkv) + s.k_at(j), rows, s.hd, kw.f32(), eps, f(qkv) + s.k_at(j),
                    s.qkv_width(), s.qkv_width());
  }
  void swiglu(const void* gu, int64_t rows, int64_t I, void* y) override {
    ops::swiglu(f(gu), rows, I, f(y));
  }

  void qkv_to_cache(void* qkv, int64_t rows, const AttentionShape& sh, const Rope& rope,
                    int64_t pos0, KVCache& c, int64_t layer, void* q_out) override {
    float* sq = f(qkv);
    ops::rotary_qkv(sq, rows, sh, rope, pos0);
    // Split the fused rows: q to a dense [rows, Q] buffer, k and v into the cache.
    const int64_t KV = sh.kv_width(), row = pos0 - c.prefix_length();  // own storage row of pos0
    RCC_CHECK(c.width() == KV, "qkv_to_cache: a cache of width ", c.width(), " for ", KV,
              " key/value dims");
    RCC_CHECK(row >= 0 && pos0 + rows <= c.capacity(), "qkv_to_cache: positions ", pos0, "..",
              pos0 + rows, " outside the cache's own rows [", c.prefix_length(), ", ", c.capacity(),
              ")");
    split_heads(sq, rows, sh, f(q_out), c.k(layer) + row * KV, c.v(layer) + row * KV);
  }
  void attention(const void* q, int64_t rows, int64_t past, const KVCache& c, int64_t layer,
                 const AttentionShape& sh, void* out) override {
    const int64_t KV = c.width();
    RCC_CHECK(KV == sh.kv_width(), "attention: a cache of width ", KV, " for ", sh.kv_width(),
              " key/value dims");
    if (!c.prefix()) {
      ops::causal_attention(f(q), sh.q_width(), c.k(layer), c.v(layer), KV, rows, past, sh.heads,
                            sh.hd, f(out), sh.group(), sh.window);
      return;
    }
    const ops::PrefixSeq s{0, rows, past, c.k(layer), c.v(layer)};
    const KVCache& p = *c.prefix();
    ops::prefix_attention(f(q), p.k(layer), p.v(layer), c.prefix_length(), KV, &s, 1, sh.heads,
                          sh.hd, f(out), sh.group(), sh.window);
  }
  // Sequences continuing the same prefix cache (up to the same position) are one group: the
  // prefix is read once per block of their rows. The others run alone.
  void attention_batch(const void* q, std::span<const SeqSlice> seqs, int64_t layer,
                       const AttentionShape& sh, void* out) override {
    std::vector<bool> done(seqs.size(), false);
    std::vector<ops::PrefixSeq> group;
    const int64_t Q = sh.q_width();
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (done[i]) continue;
      const KVCache& c = *seqs[i].cache;
      if (!c.prefix()) {
        attention(f(q) + seqs[i].begin * Q, seqs[i].count, c.length(), c, layer, sh,
                  f(out) + seqs[i].begin * Q);
        continue;
      }
      group.clear();
      for (size_t j = i; j < seqs.size(); ++j) {
        const KVCache& cj = *seqs[j].cache;
        if (done[j] || cj.prefix() != c.prefix() || cj.prefix_length() != c.prefix_length())
          continue;
        done[j] = true;
        group.push_back({seqs[j].begin, seqs[j].count, cj.length(), cj.k(layer), cj.v(layer)});
      }
      const KVCache& p = *c.prefix();
      RCC_CHECK(c.width() == sh.kv_width(), "attention: a cache of width ", c.width(), " for ",
                sh.kv_width(), " key/value dims");
      ops::prefix_attention(f(q), p.k(layer), p.v(layer), c.prefix_length(), c.width(),
                            group.data(), int64_t(group.size()), sh.heads, sh.hd, f(out),
                            sh.group(), sh.window);
    }
  }

  // ---- training: the f32 ops of src/ops ----
  void zero(void* p, size_t bytes) override {
    if (bytes) std::memset(p, 0, bytes);
  }
  // One sequence at a time (positions from 0 in each), on f32 copies of q, k, v split out of
  // the fused rows (ops::causal_attention* take [rows, heads·hd] operands).
  void rotary_qkv(void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                  const AttentionShape& sh, const Rope& rope, bool inverse) override {
    for (const auto& [begin, rows] : seqs) {
      float* t = f(qkv) + begin * sh.qkv_width();
      if (inverse)
        ops::rotary_qkv_backward(t, rows, sh, rope, 0);
      else
        ops::rotary_qkv(t, rows, sh, rope, 0);
    }
  }
  void self_attention(const void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                      const AttentionShape& sh, void* out, float*) override {
    const int64_t Q = sh.q_width(), KV = sh.kv_width();
    for (const auto& [b, n] : seqs) {
      std::vector<float> q(size_t(n * Q)), k(size_t(n * KV)), v(k.size());
      split_heads(f(qkv) + b * sh.qkv_width(), n, sh, q.data(), k.data(), v.data());
      ops::causal_attention(q.data(), Q, k.data(), v.data(), KV, n, 0, sh.heads, sh.hd,
                            f(out) + b * Q, sh.group(), sh.window);
    }
  }
  // Grouped-query attention goes through the per-head backward with each key/value head repeated
  // for its query heads; the repeated heads' gradients are summed back.
  void self_attention_backward(const void* qkv, const void*, const float*, const void* dout,
                               std::span<const std::pair<int64_t, int64_t>> seqs,
                               const AttentionShape& sh, const Rope& rope, void* dqkv) override {
    for (const auto& seq : seqs)  // a window shorter than a sequence has no backward here
      RCC_CHECK(sh.window == 0 || seq.second <= sh.window, "training: a sliding attention window ",
                "of ", sh.window, " over a sequence of ", seq.second,
                " positions is not supported");
    const int64_t Q = sh.q_width(), KV = sh.kv_width(), W = sh.qkv_width(), hd = sh.hd;
    const int64_t g = sh.group();
    for (const auto& [b, n] : seqs) {
      const size_t m = size_t(n * Q);
      std::vector<float> q(m), k(size_t(n * KV)), v(k.size()), kr(m), vr(m), dq(m, 0.0f),
          dk(m, 0.0f), dv(m, 0.0f);
      split_heads(f(qkv) + b * W, n, sh, q.data(), k.data(), v.data());
      for (int64_t r = 0; r < n; ++r)  // kv head h / g repeated for query head h
        for (int64_t h = 0; h < sh.heads; ++h) {
          const size_t src = size_t(r * KV + h / g * hd), dst = size_t(r * Q + h * hd);
          std::memcpy(kr.data() + dst, k.data() + src, size_t(hd) * 4);
          std::memcpy(vr.data() + dst, v.data() + src, size_t(hd) * 4);
        }
      ops::causal_attention_backward(q.data(), kr.data(), vr.data(), f(dout) + b * Q, n, sh.heads,
                                     hd, dq.data(), dk.data(), dv.data());
      for (int64_t r = 0; r < n; ++r) {
        float* row = f(dqkv) + (b + r) * W;
        for (int64_t h = 0; h < sh.heads; ++h)
          std::memcpy(row + sh.q_at(h), dq.data() + r * Q + h * hd, size_t(hd) * 4);
        for (int64_t j = 0; j < sh.kv_heads; ++j) {
          float* dkr = row + sh.k_at(j);
          float* dvr = row + sh.v_at(j);
          std::fill(dkr, dkr + hd, 0.0f);
          std::fill(dvr, dvr + hd, 0.0f);
          for (int64_t h = j * g; h < (j + 1) * g; ++h)
            for (int64_t i = 0; i < hd; ++i) {
              dkr[i] += dk[size_t(r * Q + h * hd + i)];
              dvr[i] += dv[size_t(r * Q + h * hd + i)];
            }
        }
      }
    }
    if (rope.dims >= 2) rotary_qkv(dqkv, seqs, sh, rope, /*inverse=*/true);
  }
  void linear_backward(const void* x, int64_t rows, const Tensor& W, const void* dy, void* dx,
                       bool accumulate_dx, float* dW, float* db) override {
    if (dx && !accumulate_dx) std::memset(dx, 0, size_t(rows * W.dim(1)) * 4);
    ops::linear_backward(f(x), rows, W, f(dy), f(dx), dW, db);
  }
  void bias_backward(const void* dy, int64_t rows, int64_t N, float* db, float* db2) override {
    for (float* d : {db, db2}) {
      if (!d) continue;
      for (int64_t r = 0; r < rows; ++r) {  // row order, as ops::linear_backward's bias sums
        const float* g = f(dy) + r * N;
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) d[n] += g[n];
      }
    }
  }
  void gelu_backward(const void* pre, const void* dy, void* dx, int64_t rows, int64_t width,
                     float* db) override {
    ops::gelu_backward(f(pre), f(dy), f(dx), rows * width);
    bias_backward(dx, rows, width, db, nullptr);
  }
  void layer_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                           const void* dy, void* dx, float* dw, float* db) override {
    ops::layer_norm_backward(f(x), rows, H, w.f32(), eps, f(dy), f(dx), dw, db);
  }
  void rms_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w, float eps,
                         const void* dy, void* dx, float* dw) override {
    ops::rms_norm_backward(f(x), rows, H, w.f32(), eps, f(dy), f(dx), dw);
  }
  void head_rms_norm_backward(const void* qkv_pre, int64_t rows, const AttentionShape& s,
                              const Tensor& qw, const Tensor& kw, float eps, void* dqkv, float* dqw,
                              float* dkw) override {
    const int64_t W = s.qkv_width(), hd = s.hd;
    std::vector<float> d(size_t(rows * hd));
    auto one = [&](int64_t at, const Tensor& w, float* dw) {
      std::fill(d.begin(), d.end(), 0.0f);
      ops::rms_norm_backward(f(qkv_pre) + at, rows, hd, w.f32(), eps, f(dqkv) + at, d.data(), dw, W,
                             W, hd);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(f(dqkv) + r * W + at, d.data() + r * hd, size_t(hd) * 4);
    };
    for (int64_t h = 0; h < s.heads; ++h) one(s.q_at(h), qw, dqw);
    for (int64_t j = 0; j < s.kv_heads; ++j) one(s.k_at(j), kw, dkw);
  }
  void swiglu_backward(const void* gu, const void* dy, void* dgu, int64_t rows, int64_t I,
                       float* db) override {
    ops::swiglu_backward(f(gu), f(dy), f(dgu), rows, I);
    bias_backward(dgu, rows, 2 * I, db, nullptr);
  }
  void scatter_add_rows(const void* src, const int64_t* idx, int64_t n, int64_t width,
                        void* dst) override {
    for (int64_t i = 0; i < n; ++i) {
      float* d = f(dst) + idx[i] * width;
      const float* s = f(src) + i * width;
      for (int64_t c = 0; c < width; ++c) d[c] += s[c];
    }
  }
  void embedding_backward(const int32_t* ids, int64_t n, const void* dx, int64_t H,
                          float* dtable) override {
    ops::embedding_backward(ids, n, f(dx), H, dtable);
  }
  void linear_f32(const void* x, int64_t rows, const Tensor& W, float* y) override {
    ops::linear(f(x), rows, W, nullptr, y);
  }
  double cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets,
                       const float* weights, void* dlogits, float scale) override {
    return ops::cross_entropy(logits, rows, V, targets, weights, f(dlogits), scale);
  }
  double sum_squares(const float* x, int64_t n) override {
    // Chunk partials in double, added in chunk order: the same at every thread count.
    const int64_t chunk = 1 << 16, nchunks = (n + chunk - 1) / chunk;
    std::vector<double> partial(static_cast<size_t>(nchunks), 0.0);
    parallel_for(nchunks, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double sq = 0;
        for (int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i)
          sq += double(x[i]) * x[i];
        partial[size_t(c)] = sq;
      }
    });
    double sq = 0;
    for (double p : partial) sq += p;
    return sq;
  }
  void scale_f32(float* x, int64_t n, float s) override {
    parallel_for(
        n,
        [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) x[i] *= s;
        },
        1 << 14);
  }
  // Tensor by tensor; a clipped gradient is first stored scaled (the rounding scale_f32 gives).
  void adamw_tensors(float* p, const float* g, float* m, float* v,
                     std::span<const AdamWTensor> tensors, float decay, double beta1, double beta2,
                     double eps, float step_size, float bc2_sqrt, float grad_scale) override {
    std::vector<float> scaled;
    for (const AdamWTensor& t : tensors) {
      RCC_CHECK(t.offset >= 0 && t.numel >= 0, "adamw_tensors: tensor at ", t.offset, " of ",
                t.numel);
      RCC_CHECK(!(t.compute && t.compute_matrix),
                "the CPU backend computes with the f32 master weights (no matrix copy)");
      const float* gt = g + t.offset;
      if (grad_scale != 1.0f) {
        scaled.assign(gt, gt + t.numel);
        scale_f32(scaled.data(), t.numel, grad_scale);
        gt = scaled.data();
      }
      adamw(p + t.offset, gt, m + t.offset, v + t.offset, t.numel, t.decayed ? decay : 1.0f, beta1,
            beta2, eps, step_size, bc2_sqrt);
      if (t.compute) std::memcpy(t.compute, p + t.offset, size_t(t.numel) * 4);
    }
  }
  void master_to_matrix(const float*, int64_t, void*) override {
    fail("the CPU backend computes with the f32 master weights (no matrix copy)");
  }

 private:
  // One tensor's AdamW update (Backend::adamw_tensors' formula) over n elements.
  void adamw(float* p, const float* g, float* m, float* v, int64_t n, float decay, double beta1,
             double beta2, double epsilon, float step_size, float bc2_sqrt) {
    const float w_lerp = float(1.0 - beta1), b2 = float(beta2), one_minus_b2 = float(1.0 - beta2),
                eps = float(epsilon);
    parallel_for(
        n,
        [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            p[i] *= decay;
            m[i] = m[i] + w_lerp * (g[i] - m[i]);  // torch.lerp for weight < 0.5
            v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
            const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
            p[i] = p[i] - step_size * (m[i] / denom);
          }
        },
        4096);
  }
  static float* f(void* p) {
    return static_cast<float*>(p);
  }
  static const float* f(const void* p) {
    return static_cast<const float*>(p);
  }
  // The fused rows [rows, s.qkv_width()] split into q [rows, Q], k and v [rows, KV].
  static void split_heads(const float* qkv, int64_t rows, const AttentionShape& s, float* q,
                          float* k, float* v) {
    const int64_t Q = s.q_width(), KV = s.kv_width(), W = s.qkv_width();
    const size_t bytes = size_t(s.hd) * 4;
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = qkv + r * W;
      for (int64_t h = 0; h < s.heads; ++h)
        std::memcpy(q + r * Q + h * s.hd, src + s.q_at(h), bytes);
      for (int64_t j = 0; j < s.kv_heads; ++j) {
        std::memcpy(k + r * KV + j * s.hd, src + s.k_at(j), bytes);
        std::memcpy(v + r * KV + j * s.hd, src + s.v_at(j), bytes);
      }
    }
  }
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
