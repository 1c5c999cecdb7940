// rcc_cuda_check: every op of the CUDA backend against the CPU backend on fresh random inputs,
// then timings of the hot kernels. Needs a GPU; not a ctest (CI has none).
//
//   build-cuda/rcc_cuda_check [--no-bench] [--bench-only] [--device N]
//
// One line per check: "PASS|FAIL name rel_err tol", rel_err = ‖out − ref‖₂ / ‖ref‖₂ over all
// elements (NaN, e.g. from an element the op never wrote — outputs are filled with NaN before each
// run — fails). Inputs given to the CPU are the bf16-rounded values the GPU sees, so the error
// measures the GPU op, not the input rounding. Tolerances:
//   1e-2  bf16 outputs (one rounding: relative 2^-9 ≈ 2e-3 per element, RMS ≈ 1e-3; the rest
//         is f32 accumulation-order noise and, in attention, bf16 rounding of the probabilities
//         before P·V);
//   3e-2  attention on the int8 cache (per-(position, head) absmax/127 steps: ≈ 0.6% RMS per
//         key/value element for Gaussian data, plus the bf16 effects above);
//   2e-2  int8 cache contents against the CPU's f32 keys/values (the quantisation step alone);
//   1e-3  f32 outputs of bf16 products (linear_f32_host): only accumulation order;
//   0     pure copies (exact).
// Then a line per timing: "TIME name median_ms value unit" (median of ≥ 10 runs after warm-up,
// CUDA events on the backend's stream). Exit status 1 when any check fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/kv_cache.h"
#include "check_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "ops/rotary.h"

using namespace rcc;
using namespace rcc::gpu_check;

namespace {

std::mt19937_64 g_rng(20240611);  // the inputs' random source

// CPU buffers of f32.
struct Host {
  DeviceBuffer b;
  explicit Host(const std::vector<float>& v) : b(cpu_backend(), v.size() * 4 + 16) {
    if (!v.empty()) std::copy(v.begin(), v.end(), f());
  }
  explicit Host(size_t n) : b(cpu_backend(), n * 4 + 16) {
    std::fill_n(f(), n, std::numeric_limits<float>::quiet_NaN());
  }
  float* f() const { return static_cast<float*>(b.get()); }
  std::vector<float> vec(size_t n) const { return std::vector<float>(f(), f() + n); }
};

Tensor host_tensor(const std::vector<float>& v, DType t, Shape shape) {
  Tensor r = Tensor::empty(t, std::move(shape));
  convert_from_f32(v.data(), t, r.raw(), v.size());
  return r;
}

// ---------------------------------------------------------------------------------------------
void check_weights_and_embed(Gpu& g) {
  Backend& cpu = cpu_backend();
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    for (auto [V, H] : {std::pair<int64_t, int64_t>{50, 24}, {300, 2048}, {7, 13}}) {
      const std::string tag = str_cat(dtype_name(t), "_", V, "x", H);
      std::vector<float> tv = randn(g_rng, size_t(V * H));
      Tensor host = host_tensor(tv, t, {V, H});
      Tensor dev = g.be->prepare_weight(host);
      report("prepare_weight_2d_is_bf16_" + tag,
             (dev.dtype() == DType::BF16 && dev.shape() == host.shape()) ? 0.0 : 1.0, 0);
      std::vector<int32_t> ids(37);
      std::uniform_int_distribution<int32_t> pick(0, int32_t(V - 1));
      for (int32_t& i : ids) i = pick(g_rng);
      Host ref(ids.size() * size_t(H));
      cpu.embed(cpu.prepare_weight(host), ids.data(), int64_t(ids.size()), ref.f());
      DeviceBuffer out(*g.be, ids.size() * size_t(H) * 2);
      g.poison(out.get(), out.bytes());
      g.be->embed(dev, ids.data(), int64_t(ids.size()), out.get());
      report("embed_" + tag,
             rel_err(g.download(out.get(), ids.size() * H), ref.vec(ids.size() * H)),
             t == DType::BF16 ? 0 : 1e-2);
    }
    // 1-D: f32 on the device, exactly the converted values.
    std::vector<float> vv = randn(g_rng, 1001);
    Tensor host = host_tensor(vv, t, {1001});
    Tensor dev = g.be->prepare_weight(host);
    std::vector<float> back(1001), ref(1001);
    g.be->copy_to_host(back.data(), dev.raw(), 1001 * 4);
    convert_to_f32(t, host.raw(), ref.data(), 1001);
    report(str_cat("prepare_weight_1d_f32_", dtype_name(t)),
           dev.dtype() == DType::F32 ? rel_err(back, ref) : 1.0, 0);
  }
}

void check_copies(Gpu& g) {
  // upload/download: one bf16 rounding.
  const size_t n = 1000003;
  std::vector<float> v = randn(g_rng, n);
  DeviceBuffer d = g.upload(v);
  report("upload_download_f32", rel_err(g.download(d.get(), n), v), 4e-3);

  // raw copies, exact.
  std::vector<uint8_t> bytes(777777);
  for (auto& b : bytes) b = uint8_t(g_rng());
  DeviceBuffer a(*g.be, bytes.size()), b(*g.be, bytes.size());
  g.be->copy_to_device(a.get(), bytes.data(), bytes.size());
  g.be->copy_device(b.get(), a.get(), bytes.size());
  std::vector<uint8_t> back(bytes.size());
  g.be->copy_to_host(back.data(), b.get(), bytes.size());
  report("copy_to_device_device_host", back == bytes ? 0.0 : 1.0, 0);

  // copy_rows: 9 rows of 100 bytes, src pitch 130, dst pitch 112.
  std::vector<uint8_t> dst_ref(112 * 9, 0);
  for (int r = 0; r < 9; ++r) std::memcpy(&dst_ref[size_t(r) * 112], &bytes[size_t(r) * 130], 100);
  DeviceBuffer rows(*g.be, dst_ref.size());
  g.fill(rows.get(), 0, dst_ref.size());
  g.be->copy_rows(rows.get(), 112, a.get(), 130, 100, 9);
  std::vector<uint8_t> rows_back(dst_ref.size());
  g.be->copy_to_host(rows_back.data(), rows.get(), rows_back.size());
  report("copy_rows", rows_back == dst_ref ? 0.0 : 1.0, 0);

  // copy_to_device from a buffer freed right after the call.
  DeviceBuffer c(*g.be, 4096);
  {
    std::vector<uint8_t> tmp(bytes.begin(), bytes.begin() + 4096);
    g.be->copy_to_device(c.get(), tmp.data(), 4096);
    std::fill(tmp.begin(), tmp.end(), 0);  // overwrite before the copy may have run
  }
  std::vector<uint8_t> c_back(4096);
  g.be->copy_to_host(c_back.data(), c.get(), 4096);
  report("copy_to_device_staged",
         std::equal(c_back.begin(), c_back.end(), bytes.begin()) ? 0.0 : 1.0, 0);
}

void check_gather(Gpu& g) {
  Backend& cpu = cpu_backend();
  struct Case {
    int64_t src_rows, src_stride, width, dst_stride, n;
  };
  for (Case c : {Case{50, 40, 24, 32, 17}, Case{64, 128, 64, 64, 40}, Case{10, 7, 5, 9, 3}}) {
    std::vector<float> src = round_bf16(randn(g_rng, size_t(c.src_rows * c.src_stride)));
    std::vector<int64_t> idx(size_t(c.n));
    std::uniform_int_distribution<int64_t> pick(0, c.src_rows - 1);
    for (auto& i : idx) i = pick(g_rng);
    const size_t out_n = size_t(c.n * c.dst_stride);
    Host hs(src), ho(out_n);
    std::fill_n(ho.f(), out_n, 0.0f);
    cpu.gather_rows(hs.f(), c.src_stride, idx.data(), c.n, c.width, ho.f(), c.dst_stride);
    DeviceBuffer ds = g.upload(src);
    DeviceBuffer dout = g.upload(std::vector<float>(out_n, 0.0f));
    g.be->gather_rows(ds.get(), c.src_stride, idx.data(), c.n, c.width, dout.get(), c.dst_stride);
    report(str_cat("gather_rows_w", c.width, "_s", c.src_stride, "_d", c.dst_stride),
           rel_err(g.download(dout.get(), out_n), ho.vec(out_n)), 0);
  }
}

// Index arrays are kept on the device and reused when the same contents come again
// (CudaBackend::upload_index): a sequence of gathers that revisits arrays, rewrites one host
// buffer in place (same pointer, other rows), and passes more distinct arrays than are kept, so
// that evicted ones must be uploaded again. Every gather must equal the CPU's (exact: a copy).
// cross_entropy_parts: one launch and one read-back for every part (a training step's samples)
// against the CPU backend's composed version (cross_entropy per part): parts of 9, 0 and 21
// rows, some weights 0. Tolerance 1e-5 relative: f32 softmax sums on the GPU against double on
// the CPU (train_ops_check's per-row bound); then the same call with one part must give
// cross_entropy's value exactly, and malformed parts must be refused.
void check_cross_entropy_parts(Gpu& g) {
  Backend& cpu = cpu_backend();
  const int64_t rows = 30, V = 517;
  const std::vector<int64_t> first = {0, 9, 9, 30};
  std::vector<float> logits = randn(g_rng, size_t(rows * V), 2.0f);
  std::vector<int32_t> targets(static_cast<size_t>(rows));
  std::vector<float> weights(static_cast<size_t>(rows));
  std::uniform_int_distribution<int32_t> pick(0, int32_t(V - 1));
  for (int64_t r = 0; r < rows; ++r) {
    targets[size_t(r)] = pick(g_rng);
    weights[size_t(r)] = r % 4 == 3 ? 0.0f : (r % 2 ? 0.5f : 1.0f);
  }
  Host hl(logits), hd(size_t(rows * V));
  const std::vector<double> ref =
      cpu.cross_entropy_parts(hl.f(), V, first, targets.data(), weights.data(), hd.f(), 0.25f);
  DeviceBuffer dl(*g.be, logits.size() * 4), dd(*g.be, logits.size() * 2);
  g.be->copy_to_device(dl.get(), logits.data(), logits.size() * 4);
  g.poison(dd.get(), dd.bytes());
  const std::vector<double> got =
      g.be->cross_entropy_parts(static_cast<const float*>(dl.get()), V, first, targets.data(),
                                weights.data(), dd.get(), 0.25f);
  double err = got.size() == ref.size() ? 0.0 : 1.0;
  for (size_t k = 0; k < std::min(got.size(), ref.size()); ++k)
    err = std::max(err, std::abs(got[k] - ref[k]) / std::max(1e-30, std::abs(ref[k])));
  report("cross_entropy_parts_losses", ref.size() == 3 && ref[1] == 0.0 ? err : 1.0, 1e-5);
  report("cross_entropy_parts_dlogits",
         rel_err(g.download(dd.get(), logits.size()), hd.vec(logits.size())), 1e-2);
  const int64_t all[2] = {0, rows};
  const double whole = g.be->cross_entropy(static_cast<const float*>(dl.get()), rows, V,
                                           targets.data(), weights.data(), nullptr, 0.25f);
  const std::vector<double> one = g.be->cross_entropy_parts(
      static_cast<const float*>(dl.get()), V, all, targets.data(), weights.data(), nullptr, 0.25f);
  report("cross_entropy_parts_one_part_is_cross_entropy",
         one.size() == 1 && one[0] == whole ? 0 : 1, 0);
  int refused = 0;
  for (const std::vector<int64_t>& bad :
       {std::vector<int64_t>{}, std::vector<int64_t>{1, 30}, std::vector<int64_t>{0, 20, 10}}) {
    try {
      (void)g.be->cross_entropy_parts(static_cast<const float*>(dl.get()), V, bad, targets.data(),
                                      weights.data(), nullptr, 1.0f);
    } catch (const Error&) {
      ++refused;
    }
  }
  report("cross_entropy_parts_malformed_parts_refused", refused == 3 ? 0 : 1, 0);
}

// Training's large-block cache (CudaBackend::alloc): a freed block of 16 MiB or more comes back
// for a request of its rounded size, is never handed out twice, keeps what is written to it, and
// nothing is cached without round_allocations or below 16 MiB.
void check_block_cache(int dev) {
  std::unique_ptr<Backend> be = make_cuda_backend(dev);
  const size_t big = size_t(40) << 20;
  be->round_allocations(true);
  void* a = be->alloc(big);
  be->release(a);
  void* b = be->alloc(big - 4096);  // the same size class
  void* c = be->alloc(big);         // the cache held one block: this one is new
  report("block_cache_reuses_a_freed_block", b == a ? 0 : 1, 0);
  report("block_cache_never_hands_out_a_block_twice", c != b ? 0 : 1, 0);
  std::vector<float> v = randn(g_rng, 1 << 20), back(v.size());
  be->copy_to_device(b, v.data(), v.size() * 4);
  be->copy_to_host(back.data(), b, v.size() * 4);
  report("block_cache_block_keeps_its_contents", back == v ? 0 : 1, 0);
  be->release(b);
  void* d = be->alloc(size_t(100) << 20);  // another class: not the cached block
  report("block_cache_other_size_is_another_block", d != b ? 0 : 1, 0);
  be->release(c);
  be->release(d);
  void* small = be->alloc(size_t(8) << 20);
  be->release(small);
  be->round_allocations(false);  // gives the cached blocks back
  be.reset();
  report("block_cache_backend_released_cleanly", cudaGetLastError() == cudaSuccess ? 0 : 1, 0);
}

void check_index_uploads(Gpu& g) {
  Backend& cpu = cpu_backend();
  const int64_t rows = 64, width = 16;
  std::vector<float> src = round_bf16(randn(g_rng, size_t(rows * width)));
  Host hs(src);
  DeviceBuffer ds = g.upload(src);
  std::uniform_int_distribution<int64_t> pick(0, rows - 1);
  auto random_rows = [&](size_t n) {
    std::vector<int64_t> v(n);
    for (auto& i : v) i = pick(g_rng);
    return v;
  };
  std::vector<std::vector<int64_t>> arrays;
  for (int i = 0; i < 12; ++i) arrays.push_back(random_rows(size_t(5 + i % 3)));
  std::vector<int64_t> in_place = random_rows(7);
  // Array indices to gather with, in order; -1: in_place, rewritten before each use.
  const int order[] = {0, 1, 0, -1, 1, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, -1, 0};
  double worst = 0;
  for (int a : order) {
    if (a < 0)
      for (auto& i : in_place) i = pick(g_rng);  // same buffer, other rows
    const std::vector<int64_t>& idx = a < 0 ? in_place : arrays[size_t(a)];
    const int64_t n = int64_t(idx.size());
    const size_t out_n = size_t(n * width);
    Host ho(out_n);
    std::fill_n(ho.f(), out_n, 0.0f);
    cpu.gather_rows(hs.f(), width, idx.data(), n, width, ho.f(), width);
    DeviceBuffer dout = g.upload(std::vector<float>(out_n, 0.0f));
    g.be->gather_rows(ds.get(), width, idx.data(), n, width, dout.get(), width);
    worst = std::max(worst, rel_err(g.download(dout.get(), out_n), ho.vec(out_n)));
  }
  report("gather_rows_reused_index_arrays", worst, 0);
}

void check_layer_norm(Gpu& g) {
  Backend& cpu = cpu_backend();
  for (auto [rows, H] : {std::pair<int64_t, int64_t>{3, 8}, {17, 40}, {64, 2048}, {5, 2051}}) {
    for (bool alias : {false, true}) {
      std::vector<float> x = round_bf16(randn(g_rng, size_t(rows * H), 2.0f));
      for (size_t i = 0; i < x.size(); ++i) x[i] += 0.5f;  // non-zero mean
      x = round_bf16(x);
      std::vector<float> w = randn(g_rng, size_t(H)), b = randn(g_rng, size_t(H));
      Tensor wt = Tensor::from_f32(w, {H}), bt = Tensor::from_f32(b, {H});
      Host hx(x), hy(x.size());
      cpu.layer_norm(hx.f(), rows, H, wt, bt, 1e-5f, hy.f());
      Tensor wd = g.be->prepare_weight(wt), bd = g.be->prepare_weight(bt);
      DeviceBuffer dx = g.upload(x);
      DeviceBuffer dy(*g.be, x.size() * 2);
      void* out = alias ? dx.get() : dy.get();
      if (!alias) g.poison(dy.get(), dy.bytes());
      g.be->layer_norm(dx.get(), rows, H, wd, bd, 1e-5f, out);
      report(str_cat("layer_norm_", rows, "x", H, alias ? "_alias" : ""),
             rel_err(g.download(out, x.size()), hy.vec(x.size())), 1e-2);
    }
  }
}

void check_linear(Gpu& g, const std::string& tag) {
  Backend& cpu = cpu_backend();
  struct Case {
    int64_t rows, K, N;
    int64_t x_offset_rows;
  };
  const Case cases[] = {{1, 64, 96, 0},     {7, 40, 24, 0},       {33, 128, 200, 0},
                        {5, 15, 13, 1},     {300, 2048, 6144, 0}, {4, 2048, 2048, 1},
                        {129, 512, 8192, 0}};
  for (const Case& c : cases) {
    std::vector<float> W = round_bf16(randn(g_rng, size_t(c.N * c.K)));
    std::vector<float> x = round_bf16(randn(g_rng, size_t((c.rows + c.x_offset_rows) * c.K)));
    std::vector<float> bias = randn(g_rng, size_t(c.N));
    std::vector<float> y0 = round_bf16(randn(g_rng, size_t(c.rows * c.N)));
    Tensor Wt = Tensor::from_f32(W, {c.N, c.K}), bt = Tensor::from_f32(bias, {c.N});
    Tensor Wd = g.be->prepare_weight(Wt), bd = g.be->prepare_weight(bt);
    DeviceBuffer dx = g.upload(x);
    const void* gx = act_at(*g.be, static_cast<const void*>(dx.get()), c.x_offset_rows * c.K);
    Host hx(x);
    const float* cx = hx.f() + c.x_offset_rows * c.K;
    const size_t ny = size_t(c.rows * c.N);
    for (bool with_bias : {false, true}) {
      for (bool acc : {false, true}) {
        Host hy(y0);
        cpu.linear(cx, c.rows, Wt, with_bias ? &bt : nullptr, hy.f(), acc);
        DeviceBuffer dy = g.upload(y0);
        if (!acc) g.poison(dy.get(), dy.bytes());
        g.be->linear(gx, c.rows, Wd, with_bias ? &bd : nullptr, dy.get(), acc);
        report(
            str_cat("linear", tag, "_", c.rows, "x", c.K, "x", c.N,
                    c.x_offset_rows ? "_offset" : "", with_bias ? "_bias" : "", acc ? "_acc" : ""),
            rel_err(g.download(dy.get(), ny), hy.vec(ny)), 1e-2);
      }
    }
    Host hy(ny);
    cpu.linear_f32_host(cx, c.rows, Wt, hy.f());
    std::vector<float> gy(ny, std::numeric_limits<float>::quiet_NaN());
    g.be->linear_f32_host(gx, c.rows, Wd, gy.data());
    report(str_cat("linear_f32_host", tag, "_", c.rows, "x", c.K, "x", c.N),
           rel_err(gy, hy.vec(ny)), 1e-3);
  }
}

void check_elementwise(Gpu& g) {
  Backend& cpu = cpu_backend();
  for (int64_t n : {int64_t(1), int64_t(13), int64_t(4096), int64_t(1000003)}) {
    for (int64_t off : {int64_t(0), int64_t(1)}) {
      std::vector<float> x = round_bf16(randn(g_rng, size_t(n + off), 2.0f));
      std::vector<float> y = round_bf16(randn(g_rng, size_t(n + off), 2.0f));
      // gelu
      Host hx(x);
      cpu.gelu(hx.f() + off, hx.f() + off, n);
      DeviceBuffer dx = g.upload(x);
      g.be->gelu(act_at(*g.be, dx.get(), off), act_at(*g.be, dx.get(), off), n);
      std::vector<float> got = g.download(act_at(*g.be, dx.get(), off), size_t(n));
      report(str_cat("gelu_", n, off ? "_offset" : ""),
             rel_err(got, std::vector<float>(hx.f() + off, hx.f() + off + n)), 1e-2);
      // Out of place (the training forward keeps its input): the same values, the input intact.
      DeviceBuffer dsrc = g.upload(x), ddst = g.upload(y);
      g.be->gelu(act_at(*g.be, dsrc.get(), off), ddst.get(), n);
      report(str_cat("gelu_out_of_place_", n, off ? "_offset" : ""),
             rel_err(g.download(ddst.get(), size_t(n)), got), 0);
      report(str_cat("gelu_out_of_place_input_kept_", n, off ? "_offset" : ""),
             rel_err(g.download(act_at(*g.be, dsrc.get(), off), size_t(n)),
                     std::vector<float>(x.begin() + off, x.end())),
             0);
      // add
      Host hy(y), hx2(x);
      cpu.add(hy.f() + off, hx2.f() + off, n);
      DeviceBuffer dy = g.upload(y), dx2 = g.upload(x);
      g.be->add(act_at(*g.be, dy.get(), off),
                act_at(*g.be, static_cast<const void*>(dx2.get()), off), n);
      report(str_cat("add_", n, off ? "_offset" : ""),
             rel_err(g.download(act_at(*g.be, dy.get(), off), size_t(n)),
                     std::vector<float>(hy.f() + off, hy.f() + off + n)),
             1e-2);
    }
  }
}

// ---------------------------------------------------------------------------------------------
struct AttnCase {
  int64_t heads, hd, rot, past, rows;
  bool eight_bit;
  int64_t kv_heads = 0;  // 0: heads (GPT-NeoX layout); else grouped-query, Llama's blocked layout
};

// Cache contents of `layer` for positions [0, n) as f32 [n, heads, hd].
std::vector<float> gpu_cache_f32(Gpu& g, const KVCache& c, int64_t layer, int64_t n, bool keys) {
  const int64_t w = c.width();
  std::vector<float> out(size_t(n * w));
  const void* data = keys ? c.k_data(layer) : c.v_data(layer);
  if (c.dtype() == DType::BF16) {
    g.be->download_f32(data, n * w, out.data());
  } else {
    std::vector<int8_t> q(size_t(n * w));
    std::vector<float> s(size_t(n * c.heads()));  // kv heads
    g.be->copy_to_host(q.data(), data, q.size());
    g.be->copy_to_host(s.data(), keys ? c.k_scale(layer) : c.v_scale(layer), s.size() * 4);
    for (int64_t i = 0; i < n * w; ++i)
      out[size_t(i)] = float(q[size_t(i)]) * s[size_t(i / c.head_dim())];
  }
  return out;
}

void check_attention_case(Gpu& g, const AttnCase& c) {
  Backend& cpu = cpu_backend();
  AttentionShape sh;
  sh.heads = c.heads;
  sh.kv_heads = c.kv_heads ? c.kv_heads : c.heads;
  sh.hd = c.hd;
  sh.interleaved = c.kv_heads == 0;
  const Rope rope = ops::default_rope(c.rot, 10000.0);
  const int64_t layers = 2, layer = 1, W = sh.q_width(), KW = sh.kv_width();
  const std::string tag =
      str_cat("h", c.heads, c.kv_heads ? str_cat("_kv", c.kv_heads) : "", "_hd", c.hd, "_rot",
              c.rot, "_past", c.past, "_rows", c.rows, c.eight_bit ? "_i8" : "_bf16");
  KVCache cc(cpu, layers, sh.kv_heads, c.hd);
  KVCache gc(*g.be, layers, sh.kv_heads, c.hd, false, c.eight_bit);
  cc.reserve(c.past + c.rows);
  gc.reserve(c.past + c.rows);

  // Positions [0, past) in two chunks (so that pos0 > 0 is exercised), then the new rows.
  auto feed = [&](int64_t pos0, int64_t n, Host* q_cpu, DeviceBuffer* q_gpu) {
    std::vector<float> qkv = round_bf16(randn(g_rng, size_t(n * sh.qkv_width()), 1.5f));
    Host hq(qkv);
    Host hqo(size_t(n * W));
    cpu.qkv_to_cache(hq.f(), n, sh, rope, pos0, cc, layer, hqo.f());
    DeviceBuffer dq = g.upload(qkv);
    DeviceBuffer dqo(*g.be, size_t(n * W) * 2);
    g.poison(dqo.get(), dqo.bytes());
    g.be->qkv_to_cache(dq.get(), n, sh, rope, pos0, gc, layer, dqo.get());
    if (q_cpu) {
      *q_cpu = std::move(hqo);
      *q_gpu = std::move(dqo);
    }
  };
  const int64_t first = c.past / 2;
  if (first > 0) feed(0, first, nullptr, nullptr);
  if (c.past - first > 0) feed(first, c.past - first, nullptr, nullptr);
  Host q_cpu(size_t(1));
  DeviceBuffer q_gpu;
  feed(c.past, c.rows, &q_cpu, &q_gpu);

  const size_t nq = size_t(c.rows * W);
  report("rotary_q_" + tag, rel_err(g.download(q_gpu.get(), nq), q_cpu.vec(nq)), 1e-2);
  const int64_t n = c.past + c.rows;
  const double cache_tol = c.eight_bit ? 2e-2 : 1e-2;
  report("cache_k_" + tag,
         rel_err(gpu_cache_f32(g, gc, layer, n, true),
                 std::vector<float>(cc.k(layer), cc.k(layer) + n * KW)),
         cache_tol);
  report("cache_v_" + tag,
         rel_err(gpu_cache_f32(g, gc, layer, n, false),
                 std::vector<float>(cc.v(layer), cc.v(layer) + n * KW)),
         cache_tol);

  Host out_cpu(nq);
  cpu.attention(q_cpu.f(), c.rows, c.past, cc, layer, sh, out_cpu.f());
  DeviceBuffer out_gpu(*g.be, nq * 2);
  g.poison(out_gpu.get(), out_gpu.bytes());
  g.be->attention(q_gpu.get(), c.rows, c.past, gc, layer, sh, out_gpu.get());
  report("attention_" + tag, rel_err(g.download(out_gpu.get(), nq), out_cpu.vec(nq)),
         c.eight_bit ? 3e-2 : 1e-2);
}

void check_attention(Gpu& g) {
  const AttnCase cases[] = {
      // fallback kernel (head dims without a specialised kernel)
      {2, 8, 2, 0, 5, false},
      {2, 8, 4, 7, 1, false},
      {3, 16, 4, 0, 70, false},
      {3, 16, 16, 33, 3, false},
      {3, 16, 5, 20, 9, false},
      {2, 32, 8, 100, 50, false},
      {2, 256, 64, 10, 20, false},
      // flash prefill (hd 64/128): partial tiles, past not a tile multiple, split keys
      {2, 64, 16, 0, 130, false},
      {2, 64, 16, 64, 5, false},
      {4, 128, 32, 77, 200, false},
      {2, 128, 32, 3000, 64, false},
      {2, 64, 64, 5000, 100, false},
      {16, 128, 32, 0, 512, false},
      // decode (rows <= 4), split-K
      {2, 64, 16, 300, 1, false},
      {2, 64, 64, 1000, 3, false},
      {4, 128, 32, 5000, 1, false},
      {2, 128, 32, 20000, 4, false},
      {2, 256, 64, 500, 2, false},
      {2, 128, 32, 0, 1, false},
      // grouped-query attention (Llama's blocked qkv layout): fallback, flash, decode, int8
      {4, 16, 16, 5, 9, false, 2},
      {8, 64, 64, 0, 130, false, 2},
      {4, 128, 128, 700, 64, false, 1},
      {8, 64, 64, 300, 1, false, 4},
      {4, 128, 128, 5000, 3, false, 2},
      {8, 64, 64, 300, 2, true, 2},
      {4, 128, 64, 0, 130, true, 2},
      // int8 caches
      {2, 8, 4, 7, 1, true},
      {3, 16, 4, 0, 70, true},
      {2, 64, 16, 0, 130, true},
      {2, 64, 16, 300, 1, true},
      {4, 128, 32, 77, 200, true},
      {4, 128, 32, 5000, 1, true},
      {2, 128, 32, 3000, 64, true},
      {2, 256, 64, 500, 2, true},
      {16, 128, 32, 0, 512, true},
      {2, 128, 32, 20000, 4, true},
  };
  for (const AttnCase& c : cases) check_attention_case(g, c);
}

void check_errors(Gpu& g) {
  bool threw = false;
  std::string msg;
  try {
    g.be->alloc(size_t(1) << 50);
  } catch (const Error& e) {
    threw = true;
    msg = e.what();
  }
  std::printf("  (out-of-memory message: %s)\n", msg.c_str());
  report("alloc_too_large_throws", threw && msg.find("bytes") != std::string::npos ? 0.0 : 1.0, 0);
  threw = false;
  try {
    g.be->prepare_weight(Tensor::zeros(DType::I32, {4, 4}));
  } catch (const Error&) {
    threw = true;
  }
  report("prepare_weight_i32_throws", threw ? 0.0 : 1.0, 0);
  // still usable after the errors
  std::vector<float> v = randn(g_rng, 100);
  DeviceBuffer d = g.upload(v);
  report("usable_after_errors", rel_err(g.download(d.get(), 100), v), 4e-3);

  g.be->synchronize();
  g.be->reset_peak();
  const size_t before = g.be->peak_bytes();
  {
    DeviceBuffer big(*g.be, size_t(100) << 20);
    report("peak_bytes_tracks_alloc",
           g.be->peak_bytes() >= before + (size_t(100) << 20) ? 0.0 : 1.0, 0);
  }
  g.be->reset_peak();
  report("peak_bytes_reset", g.be->peak_bytes() < before + (size_t(100) << 20) ? 0.0 : 1.0, 0);
}

// ---------------------------------------------------------------------------------------------
// Median time (ms) of fn over `iters` runs after `warm` warm-up runs, CUDA events on the stream.

void bench(Gpu& g) {
  // bf16 GEMM 8192³ through linear().
  {
    const int64_t M = 8192, N = 8192, K = 8192;
    Tensor Wh = Tensor::empty(DType::BF16, {N, K});
    uint16_t* w = static_cast<uint16_t*>(Wh.raw());
    uint32_t s = 12345;
    for (int64_t i = 0; i < N * K; ++i) {
      s = s * 1664525u + 1013904223u;
      w[i] = f32_to_bf16(float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23) * 0.05f);
    }
    Tensor Wd = g.be->prepare_weight(Wh);
    DeviceBuffer x(*g.be, size_t(M * K) * 2), y(*g.be, size_t(M * N) * 2);
    g.be->copy_device(x.get(), Wd.raw(), size_t(M * K) * 2);
    const double ms = time_ms(g, [&] { g.be->linear(x.get(), M, Wd, nullptr, y.get(), false); });
    std::printf("TIME gemm_bf16_8192x8192x8192 %.3f ms %.1f TFLOP/s\n", ms,
                2.0 * M * N * K / (ms * 1e-3) / 1e12);
    // Pythia-1.4b shapes, one 2048-token window.
    for (auto [n_out, k_in] :
         {std::pair<int64_t, int64_t>{6144, 2048}, {8192, 2048}, {2048, 8192}}) {
      Tensor Wb = Tensor::empty(DType::BF16, {n_out, k_in});
      std::memcpy(Wb.raw(), w, size_t(n_out * k_in) * 2);
      Tensor Wbd = g.be->prepare_weight(Wb);
      std::vector<float> bv(size_t(n_out), 0.01f);
      Tensor bd = g.be->prepare_weight(Tensor::from_f32(bv, {n_out}));
      const double t = time_ms(g, [&] { g.be->linear(x.get(), 2048, Wbd, &bd, y.get(), false); });
      std::printf("TIME linear_bias_2048x%ldx%ld %.3f ms %.1f TFLOP/s\n", long(k_in), long(n_out),
                  t, 2.0 * 2048 * n_out * k_in / (t * 1e-3) / 1e12);
    }
  }
  const int64_t heads = 16, hd = 128, W = heads * hd;
  const AttentionShape plain{heads, heads, hd};
  // Flash prefill, T = 2048 from position 0.
  for (bool i8 : {false, true}) {
    const int64_t T = 2048;
    KVCache cache(*g.be, 1, heads, hd, false, i8);
    cache.reserve(T);
    std::vector<float> qkv = randn(g_rng, size_t(T * 3 * W));
    DeviceBuffer dq = g.upload(qkv), q(*g.be, size_t(T * W) * 2), out(*g.be, size_t(T * W) * 2);
    const double tq = time_ms(g, [&] {
      g.be->qkv_to_cache(dq.get(), T, plain, ops::default_rope(32, 10000.0), 0, cache, 0, q.get());
    });
    std::printf("TIME qkv_to_cache_T2048_h16_hd128%s %.3f ms\n", i8 ? "_i8" : "", tq);
    const double ms =
        time_ms(g, [&] { g.be->attention(q.get(), T, 0, cache, 0, plain, out.get()); });
    std::printf("TIME flash_prefill_T2048_h16_hd128%s %.3f ms %.1f TFLOP/s\n", i8 ? "_i8" : "", ms,
                4.0 * T * T * hd * heads / 2 / (ms * 1e-3) / 1e12);
  }
  // Long memory prefix: 131072 positions (values: a constant byte pattern, finite).
  for (bool i8 : {false, true}) {
    const int64_t P = 131072;
    KVCache cache(*g.be, 1, heads, hd, false, i8);
    cache.reserve(P);
    const size_t esz = i8 ? 1 : 2;
    g.fill(cache.k_data(0), 0x3C, size_t(P * W) * esz);
    g.fill(cache.v_data(0), 0x3C, size_t(P * W) * esz);
    if (i8) {
      g.fill(cache.k_scale(0), 0x3C, size_t(P * heads) * 4);
      g.fill(cache.v_scale(0), 0x3C, size_t(P * heads) * 4);
    }
    std::vector<float> qv = randn(g_rng, size_t(512 * W));
    DeviceBuffer q = g.upload(qv), out(*g.be, size_t(512 * W) * 2);
    const double bytes = double(P) * W * esz * 2 + (i8 ? double(P) * heads * 8 : 0.0);
    for (int64_t rows : {int64_t(1), int64_t(4)}) {
      const double ms =
          time_ms(g, [&] { g.be->attention(q.get(), rows, P - rows, cache, 0, plain, out.get()); });
      std::printf("TIME decode_rows%ld_past131072_h16_hd128%s %.3f ms %.0f GB/s\n", long(rows),
                  i8 ? "_i8" : "", ms, bytes / (ms * 1e-3) / 1e9);
    }
    const int64_t rows = 512;
    const double ms =
        time_ms(g, [&] { g.be->attention(q.get(), rows, P - rows, cache, 0, plain, out.get()); });
    std::printf("TIME flash_chunk512_past130560_h16_hd128%s %.3f ms %.1f TFLOP/s\n",
                i8 ? "_i8" : "", ms, 4.0 * rows * double(P) * hd * heads / (ms * 1e-3) / 1e12);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool run_checks = true, run_bench = true;
  int dev = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-bench"))
      run_bench = false;
    else if (!std::strcmp(argv[i], "--bench-only"))
      run_checks = false;
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc)
      dev = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: rcc_cuda_check [--no-bench] [--bench-only] [--device N]\n");
      return 2;
    }
  }
  try {
    Gpu g(dev);
    std::printf("device: %s; cpu reference: %s\n", g.be->name().c_str(),
                cpu_backend().name().c_str());
    if (run_checks) {
      check_copies(g);
      check_weights_and_embed(g);
      check_gather(g);
      check_index_uploads(g);
      check_cross_entropy_parts(g);
      check_block_cache(dev);
      check_layer_norm(g);
      check_elementwise(g);
      check_linear(g, "");
      {
        // The cuBLAS fallback path (cublasGemmEx + bias kernel): RCC_CUDA_GEMM=cublas, read when
        // a backend is made.
        std::unique_ptr<Gpu> g2;
        {
          SettingsScope cublas([](RuntimeSettings& s) { s.cuda_gemm_lt = false; });
          g2 = std::make_unique<Gpu>(dev);
        }
        check_linear(*g2, "_cublas");
      }
      check_attention(g);
      check_errors(g);
      g.be->synchronize();
      std::printf("SUMMARY %d/%d checks passed\n", g_total - g_fail, g_total);
    }
    if (run_bench) bench(g);
    g.be->synchronize();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return g_fail ? 1 : 0;
}
