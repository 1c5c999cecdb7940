// rcc_cuda_attn_bwd_check: the CUDA causal-attention backward (launch_attention_backward, both the
// tensor-core path and the scalar fallback) against the CPU's rcc::ops::causal_attention_backward
// on fresh random inputs, then timings of the tensor-core path. Needs a GPU; not a ctest.
// A case is a batch of one or more sequences (rows of one buffer, each from position 0), as the
// trainer passes them: the CPU reference runs each sequence on its own; the GPU runs the batched
// flash forward (one launch for every sequence) and the batched backward.
//
//   build-cuda/rcc_cuda_attn_bwd_check [--no-bench] [--bench-only] [--device N]
//
// One line per check: "PASS|FAIL name rel_err tol", rel_err = ‖gpu − ref‖₂ / ‖ref‖₂ over all
// elements of dq, dk or dv (NaN fails: outputs are filled with the bf16 NaN 0xFFFF, and the
// workspace with f32 NaNs, before each run, so an element never written fails). Inputs q, k, v,
// dout are N(0, 1) rounded to bf16; the forward output `out` is computed by the CPU from those
// values and rounded to bf16 (what the GPU training forward stores); the CPU reference backward
// sees the same bf16-rounded values, so the error measures the GPU backward alone.
// Tolerance 2e-2:
//   - bf16 outputs: one rounding, relative 2^-9 ≈ 2e-3 per element, ≈ 1e-3 RMS;
//   - the tensor-core path rounds P and dS to bf16 before the products dV = Pᵀ·dO, dK = dSᵀ·Q,
//     dQ = dS·K (≈ 1e-3 RMS each, partly averaging out over the sums);
//   - D = rowsum(dout ∘ out) uses the bf16-rounded out while the CPU uses Σ_j P·dP in f32/double,
//     and dS = P·(dP − D) cancels where dP ≈ D, amplifying that difference a little;
//   - f32 accumulation order. Observed errors are a few 1e-3; 2e-2 leaves margin while any
//     indexing or masking bug gives O(1) errors.
// Every case first runs the GPU forward (one sequence: cuda::plan_attention / run_attention, which
// takes the flash kernel with or without key splits + combine, the decode kernel + combine, or the
// fallback kernel depending on the shape; several: launch_flash_attention_tiles, or run_attention
// per sequence for head dims without the flash kernel) with AttentionArgs::lse set, and checks that
// LSE against a CPU computation in double (log2 domain: m + log2 Σ_j 2^(scale·log2e·q·k_j − m)),
// error max |gpu − ref| / max(1, |ref|) ≤ 1e-3 (f32 scores from the same bf16 inputs: ~1e-6
// expected). The backward then runs with that LSE and with lse = null (recomputed): on the default
// path
// ("auto": head_dim 64 the wgmma kernel on compute capability 9.0, else as "mma"), on "mma" (the
// mma.sync kernels: head_dim 64 deterministic dQ, 128 atomic dQ), on
// RCC_CUDA_ATTN_BWD=deterministic (also checked bit-identical over two runs), and on the forced
// fallback.
// Then a line per timing: "TIME name median_ms ms TFLOP/s" (median of 10 runs after warm-up, CUDA
// events), counting 5·n²·hd·heads FLOPs = 2.5 × the causal forward's 2·n²·hd·heads; the forward
// (with LSE) and the backward in each mode, with the forward's LSE and recomputing it; then a
// batch of sequences (the trainer's windows) run one launch per sequence and batched.
// Exit status 1 when any check fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "cuda/kernels.h"
#include "cuda/train_kernels.h"
#include "ops/attention.h"

using namespace rcc;
using namespace rcc::gpu_check;

namespace {

std::mt19937_64 g_rng(20240611);  // the inputs' random source

#define CK(call)                                                                         \
  do {                                                                                   \
    cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess)                                                               \
      fail(#call, " failed: ", cudaGetErrorString(e_), " at ", __FILE__, ":", __LINE__); \
  } while (0)

void upload_bf16(Dev& d, const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
  CK(cudaMemcpy(d.p, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
}
std::vector<float> download_bf16(const Dev& d, size_t n) {
  std::vector<uint16_t> h(n);
  CK(cudaMemcpy(h.data(), d.p, n * 2, cudaMemcpyDeviceToHost));
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = bf16_to_f32(h[i]);
  return v;
}
std::vector<uint16_t> download_raw(const Dev& d, size_t n) {
  std::vector<uint16_t> h(n);
  CK(cudaMemcpy(h.data(), d.p, n * 2, cudaMemcpyDeviceToHost));
  return h;
}

// Selects the backward's path for the life of the scope (RCC_CUDA_ATTN_BWD, read by every
// launch), the old settings restored at its end.
struct PathScope : SettingsScope {
  explicit PathScope(AttnBackwardPath path)
      : SettingsScope([path](RuntimeSettings& s) { s.cuda_attn_bwd = path; }) {}
};
// The batched forward's kernel likewise (RCC_CUDA_ATTN_FWD).
struct ForwardScope : SettingsScope {
  explicit ForwardScope(AttnForwardPath path)
      : SettingsScope([path](RuntimeSettings& s) { s.cuda_attn_fwd = path; }) {}
};

// q, k, v (or dq, dk, dv) of a batch of n rows on the device, in one of the two layouts the
// kernels take (cuda::QkvLayout): three [n, heads·hd] blocks one after the other, or the
// training pass's fused qkv [n, heads, 3, hd].
struct QkvBufs {
  bool fused;
  int64_t n;
  int heads, hd;
  Dev mem;
  QkvBufs(bool fused_, int64_t n_, int heads_, int hd_)
      : fused(fused_), n(n_), heads(heads_), hd(hd_), mem(size_t(3 * n_ * heads_ * hd_) * 2) {}
  int64_t H() const { return int64_t(heads) * hd; }
  cuda::QkvLayout layout() const {
    return fused ? cuda::QkvLayout{3 * H(), 3 * int64_t(hd)} : cuda::QkvLayout{H(), hd};
  }
  // Part i (0: q, 1: k, 2: v) at row 0.
  cuda::bf16* part(int i) const { return fused ? mem.bf(i * hd) : mem.bf(i * n * H()); }
  // Element (row r, column c of [n, heads·hd]) of part i.
  size_t at(int i, int64_t r, int64_t c) const {
    return fused ? size_t(r * 3 * H() + (c / hd) * 3 * hd + i * hd + c % hd)
                 : size_t(i * n * H() + r * H() + c);
  }
  void upload(const std::vector<float>& q, const std::vector<float>& k,
              const std::vector<float>& v) {
    std::vector<float> all(size_t(3 * n * H()));
    const std::vector<float>* src[3] = {&q, &k, &v};
    for (int i = 0; i < 3; ++i)
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < H(); ++c) all[at(i, r, c)] = (*src[i])[size_t(r * H() + c)];
    upload_bf16(mem, all);
  }
  std::vector<float> download(int i) const {
    const std::vector<float> all = download_bf16(mem, size_t(3 * n * H()));
    std::vector<float> out(size_t(n * H()));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < H(); ++c) out[size_t(r * H() + c)] = all[at(i, r, c)];
    return out;
  }
  std::vector<uint16_t> raw() const { return download_raw(mem, size_t(3 * n * H())); }
};

cuda::AttentionArgs forward_args(const QkvBufs& qkv, Dev& out, float* lse, int64_t n) {
  const int64_t H = qkv.H();
  const cuda::QkvLayout l = qkv.layout();
  cuda::AttentionArgs a;
  a.q = qkv.part(0);
  a.q_stride = l.row_stride;
  a.q_head = l.head_stride;
  a.k = qkv.part(1);
  a.v = qkv.part(2);
  a.kv_stride = l.row_stride;
  a.kv_head = l.head_stride;
  a.heads = qkv.heads;
  a.hd = qkv.hd;
  a.rows = n;
  a.past = 0;
  a.out = out.bf();
  a.out_stride = H;
  a.lse = lse;
  a.scale_log2 = float(1.0 / std::sqrt(double(qkv.hd)) * 1.4426950408889634);
  return a;
}

// The forward arguments of one sequence of a batch: rows [sq.begin, + sq.n) of the buffers.
cuda::AttentionArgs sequence_args(const QkvBufs& qkv, Dev& out, Dev& lse, const cuda::SeqRows& sq) {
  const int64_t qo = sq.begin * qkv.layout().row_stride;
  cuda::AttentionArgs a = forward_args(qkv, out, nullptr, sq.n);
  a.q += qo;
  a.k = qkv.part(1) + qo;
  a.v = qkv.part(2) + qo;
  a.out = out.bf(sq.begin * qkv.H());
  a.lse = lse.as<float>() + sq.begin * qkv.heads;
  return a;
}

int num_sms() {
  int dev = 0, sms = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  return sms;
}

bool has_mma_path(int hd) {
  return hd == 64 || hd == 128;
}

std::vector<cuda::SeqRows> seq_rows(const std::vector<int64_t>& lens) {
  std::vector<cuda::SeqRows> s;
  int64_t b = 0;
  for (int64_t n : lens) s.push_back({b, n}), b += n;
  return s;
}

void check_case(cudaStream_t stream, const std::vector<int64_t>& lens, int heads, int hd,
                bool force_fallback, bool fused) {
  const bool mma = has_mma_path(hd) && !force_fallback;
  const std::vector<cuda::SeqRows> seqs = seq_rows(lens);
  int64_t n = 0;  // rows of the batch
  std::string shape;
  for (int64_t l : lens) n += l, shape += str_cat(shape.empty() ? "" : "+", l);
  if (lens.size() > 8) shape = str_cat(lens.size(), "seqs_", n, "rows");
  const std::string name = str_cat("attn_bwd_", mma ? "mma" : "fallback", fused ? "_fused" : "",
                                   "_n", shape, "_h", heads, "_hd", hd);
  const int64_t H = int64_t(heads) * hd;
  const size_t N = size_t(n * H);
  std::vector<float> q = round_bf16(randn(g_rng, N)), k = round_bf16(randn(g_rng, N)),
                     v = round_bf16(randn(g_rng, N)), dout = round_bf16(randn(g_rng, N));
  std::vector<float> out(N);
  std::vector<float> rdq(N, 0.0f), rdk(N, 0.0f), rdv(N, 0.0f);  // the CPU accumulates
  for (const cuda::SeqRows& sq : seqs) {
    const size_t o = size_t(sq.begin * H);
    ops::causal_attention(q.data() + o, H, k.data() + o, v.data() + o, H, sq.n, 0, heads, hd,
                          out.data() + o);
  }
  out = round_bf16(out);
  for (const cuda::SeqRows& sq : seqs) {
    const size_t o = size_t(sq.begin * H);
    ops::causal_attention_backward(q.data() + o, k.data() + o, v.data() + o, dout.data() + o, sq.n,
                                   heads, hd, rdq.data() + o, rdk.data() + o, rdv.data() + o);
  }
  // Reference LSE [n][heads] (log2 domain, double), each row against its own sequence's keys.
  const double c = 1.0 / std::sqrt(double(hd)) * 1.4426950408889634;
  std::vector<double> rlse(size_t(n) * heads);
  for (const cuda::SeqRows& sq : seqs) {
    std::vector<double> s(sq.n);
    for (int64_t r = sq.begin; r < sq.begin + sq.n; ++r)
      for (int h = 0; h < heads; ++h) {
        double m = -INFINITY;
        for (int64_t j = sq.begin; j <= r; ++j) {
          double dot = 0;
          for (int d = 0; d < hd; ++d)
            dot += double(q[r * H + h * hd + d]) * double(k[j * H + h * hd + d]);
          s[j - sq.begin] = c * dot;
          m = std::max(m, s[j - sq.begin]);
        }
        double l = 0;
        for (int64_t j = sq.begin; j <= r; ++j) l += std::exp2(s[j - sq.begin] - m);
        rlse[r * heads + h] = m + std::log2(l);
      }
  }

  QkvBufs gqkv(fused, n, heads, hd), grad(fused, n, heads, hd), grad2(fused, n, heads, hd);
  Dev go(N * 2), gdo(N * 2), gfo(N * 2);
  Dev glse(size_t(n) * heads * sizeof(float));
  gqkv.upload(q, k, v);
  upload_bf16(go, out);
  upload_bf16(gdo, dout);
  Dev ws(cuda::attention_backward_workspace(n, heads, hd));
  try {
    // GPU forward with LSE.
    CK(cudaMemsetAsync(glse.p, 0xFF, glse.bytes, stream));
    CK(cudaMemsetAsync(gfo.p, 0xFF, gfo.bytes, stream));
    cuda::AttentionArgs fa = forward_args(gqkv, gfo, static_cast<float*>(glse.p), n);
    std::string path;
    if (seqs.size() == 1) {
      const cuda::AttentionPlan plan = cuda::plan_attention(fa, num_sms());
      Dev fws(plan.workspace_bytes);
      cuda::run_attention(fa, plan, fws.p, stream);
      CK(cudaStreamSynchronize(stream));
      path = str_cat(plan.path == cuda::AttentionPath::Flash    ? "flash"
                     : plan.path == cuda::AttentionPath::Decode ? "decode"
                                                                : "fallback",
                     "_splits", plan.splits);
    } else if (cuda::flash_supported(fa)) {
      cuda::launch_flash_attention_tiles(
          fa,
          cuda::causal_tiles(seqs.data(), int64_t(seqs.size()), cuda::kFlashTileRows, true, false),
          stream);
      CK(cudaStreamSynchronize(stream));
      path = "flash_batched";
    } else {
      for (const cuda::SeqRows& sq : seqs) {
        const cuda::AttentionArgs one = sequence_args(gqkv, gfo, glse, sq);
        const cuda::AttentionPlan plan = cuda::plan_attention(one, num_sms());
        Dev fws(plan.workspace_bytes);
        cuda::run_attention(one, plan, fws.p, stream);
        CK(cudaStreamSynchronize(stream));
      }
      path = "per_sequence";
    }
    const std::string fname =
        str_cat("attn_fwd_", path, fused ? "_fused" : "", "_n", shape, "_h", heads, "_hd", hd);
    std::vector<float> glse_h(size_t(n) * heads);
    CK(cudaMemcpy(glse_h.data(), glse.p, glse.bytes, cudaMemcpyDeviceToHost));
    double lerr = 0;
    for (size_t i = 0; i < glse_h.size(); ++i) {
      const double e = std::fabs(double(glse_h[i]) - rlse[i]) / std::max(1.0, std::fabs(rlse[i]));
      lerr = std::isnan(e) ? NAN : std::max(lerr, e);
      if (std::isnan(lerr)) break;
    }
    if (!force_fallback) {  // once per shape
      report(fname + "_out", rel_err(download_bf16(gfo, N), out), 2e-2);
      report(fname + "_lse", lerr, 1e-3);
    }
    // The batched forward (the training path) on both of its kernels, every shape it takes:
    // RCC_CUDA_ATTN_FWD auto (the wgmma kernel for head_dim 64 on compute capability 9.0) and
    // mma; same tolerances as above. Outputs NaN-filled first: a row never written fails.
    if (!force_fallback && cuda::flash_supported(fa)) {
      const std::vector<cuda::AttnTile> ftiles =
          cuda::causal_tiles(seqs.data(), int64_t(seqs.size()), cuda::kFlashTileRows, true, false);
      struct Forward {
        AttnForwardPath path;
        const char* tag;
      };
      for (const Forward fwd :
           {Forward{AttnForwardPath::Auto, "auto"}, Forward{AttnForwardPath::Mma, "mma"}}) {
        CK(cudaMemsetAsync(glse.p, 0xFF, glse.bytes, stream));
        CK(cudaMemsetAsync(gfo.p, 0xFF, gfo.bytes, stream));
        {
          ForwardScope path(fwd.path);
          cuda::launch_flash_attention_tiles(fa, ftiles, stream);
        }
        CK(cudaStreamSynchronize(stream));
        CK(cudaMemcpy(glse_h.data(), glse.p, glse.bytes, cudaMemcpyDeviceToHost));
        double e2 = 0;
        for (size_t i = 0; i < glse_h.size(); ++i) {
          const double e =
              std::fabs(double(glse_h[i]) - rlse[i]) / std::max(1.0, std::fabs(rlse[i]));
          e2 = std::isnan(e) ? NAN : std::max(e2, e);
          if (std::isnan(e2)) break;
        }
        const std::string bn = str_cat("attn_fwd_batched_", fwd.tag, fused ? "_fused" : "", "_n",
                                       shape, "_h", heads, "_hd", hd);
        report(bn + "_out", rel_err(download_bf16(gfo, N), out), 2e-2);
        report(bn + "_lse", e2, 1e-3);
      }
    }

    auto run = [&](AttnBackwardPath mode, bool with_lse, QkvBufs& g) {
      g.mem.poison(stream);
      CK(cudaMemsetAsync(ws.p, 0xFF, ws.bytes, stream));
      PathScope ps(mode);
      cuda::launch_attention_backward(
          gqkv.part(0), gqkv.part(1), gqkv.part(2), gqkv.layout(), go.bf(),
          with_lse ? static_cast<const float*>(glse.p) : nullptr, gdo.bf(), seqs.data(),
          int64_t(seqs.size()), n, heads, hd, g.part(0), g.part(1), g.part(2), ws.p, stream);
      CK(cudaStreamSynchronize(stream));
    };
    auto check = [&](const std::string& nm) {
      report(nm + "_dq", rel_err(grad.download(0), rdq), 2e-2);
      report(nm + "_dk", rel_err(grad.download(1), rdk), 2e-2);
      report(nm + "_dv", rel_err(grad.download(2), rdv), 2e-2);
    };
    struct Mode {
      AttnBackwardPath path;
      const char* tag;
    };
    // auto: head_dim 64 the wgmma kernel on compute capability 9.0 (else as mma); mma: the
    // mma.sync kernels (head_dim 64 deterministic scheme, 128 atomic).
    const Mode modes_mma[] = {{AttnBackwardPath::Auto, "auto"},
                              {AttnBackwardPath::Mma, "mma"},
                              {AttnBackwardPath::Deterministic, "det"}};
    const Mode modes_fb[] = {{AttnBackwardPath::Fallback, "fb"}};
    const Mode* modes = mma ? modes_mma : modes_fb;
    const int nmodes = mma ? 3 : 1;
    for (int mi = 0; mi < nmodes; ++mi) {
      for (int wl = 1; wl >= 0; --wl) {
        const std::string nm = str_cat(name, "_", modes[mi].tag, wl ? "_lse" : "_nolse");
        run(modes[mi].path, wl != 0, grad);
        check(nm);
        if (mma && !std::strcmp(modes[mi].tag, "det") && wl) {
          run(modes[mi].path, true, grad2);
          report(nm + "_deterministic", grad.raw() == grad2.raw() ? 0.0 : 1.0, 0);
        }
      }
    }
  } catch (const std::exception& e) {
    std::printf("FAIL %s exception: %s\n", name.c_str(), e.what());
    ++g_fail;
    ++g_total;
  }
}

// Errors the launcher must report (rcc::Error), and no sequences (no work, no error).
void check_errors(cudaStream_t stream) {
  Dev b(1 << 20);
  auto expect_throw = [&](const char* name, std::vector<cuda::SeqRows> seqs, int64_t rows,
                          int heads, int hd, cuda::QkvLayout layout = {}) {
    if (layout.row_stride == 0) layout = {int64_t(heads) * hd, hd};
    bool threw = false;
    try {
      cuda::launch_attention_backward(b.bf(), b.bf(), b.bf(), layout, b.bf(), nullptr, b.bf(),
                                      seqs.data(), int64_t(seqs.size()), rows, heads, hd, b.bf(),
                                      b.bf(), b.bf(), b.p, stream);
    } catch (const Error&) {
      threw = true;
    }
    report(str_cat("attn_bwd_rejects_", name), threw ? 0.0 : 1.0, 0);
  };
  expect_throw("hd_0", {{0, 4}}, 4, 1, 0);
  expect_throw("hd_257", {{0, 4}}, 4, 1, 257);
  expect_throw("heads_0", {{0, 4}}, 4, 0, 64);
  expect_throw("empty_sequence", {{0, 4}, {4, 0}}, 4, 1, 64);
  expect_throw("sequence_past_the_batch", {{0, 4}, {4, 8}}, 8, 1, 64);
  expect_throw("negative_begin", {{-1, 4}}, 4, 1, 64);
  expect_throw("head_stride_below_hd", {{0, 4}}, 4, 2, 64, {192, 32});
  expect_throw("row_stride_below_the_heads", {{0, 4}}, 4, 2, 64, {200, 192});
  bool ok = true;
  try {
    cuda::launch_attention_backward(b.bf(), b.bf(), b.bf(), {128, 64}, b.bf(), nullptr, b.bf(),
                                    nullptr, 0, 0, 2, 64, b.bf(), b.bf(), b.bf(), nullptr, stream);
    CK(cudaStreamSynchronize(stream));
  } catch (const std::exception&) {
    ok = false;
  }
  report("attn_bwd_no_sequences_is_a_no_op",
         ok && cuda::attention_backward_workspace(0, 2, 64) == 0 ? 0.0 : 1.0, 0);
}

struct Timer {
  cudaStream_t stream;
  cudaEvent_t e0, e1;
  explicit Timer(cudaStream_t s) : stream(s) {
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
  }
  ~Timer() {
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
  // Median of 10 runs after 3 warm-up runs, ms.
  template <class F>
  double operator()(F&& fn) {
    for (int i = 0; i < 3; ++i) fn();
    std::vector<float> ms;
    for (int i = 0; i < 10; ++i) {
      CK(cudaEventRecord(e0, stream));
      fn();
      CK(cudaEventRecord(e1, stream));
      CK(cudaEventSynchronize(e1));
      float t = 0;
      CK(cudaEventElapsedTime(&t, e0, e1));
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return double(ms[ms.size() / 2]);
  }
};

// The inverse rotary folded into the backward (launch_attention_backward's `fold`: dk in the
// wgmma kernel's epilogue, dq in the dQ conversion, rotated in f32 before the one rounding)
// against the unfolded backward followed by the rotary kernel's inverse (launch_rotary_qkv_rows,
// itself checked against the CPU ops by rcc_cuda_train_check), on the fused layout. dv is not
// touched by the fold (the same products and stores: bit-identical, tolerance 0); dq and dk
// differ by the second rounding of the unfolded side (bf16, ≤ 2^-8 of an element, ~2e-3 RMS
// relative) and the order of the dQ additions: tolerance 1e-2. On compute capability 9.0 the
// default path must fold (head_dim 64, half 8, 16 or 32); the mma.sync kernels never do.
void check_rotary_fold(cudaStream_t stream, const std::vector<int64_t>& lens, int heads, int rot) {
  const int hd = 64, half = rot / 2;
  const std::vector<cuda::SeqRows> seqs = seq_rows(lens);
  int64_t n = 0, longest = 0;
  std::string shape;
  for (int64_t l : lens)
    n += l, longest = std::max(longest, l), shape += str_cat(shape.empty() ? "" : "+", l);
  const std::string name = str_cat("attn_bwd_rotary_fold_n", shape, "_h", heads, "_rot", rot);
  const int64_t H = int64_t(heads) * hd;
  const size_t N = size_t(n * H);
  QkvBufs qkv(true, n, heads, hd), plain(true, n, heads, hd), folded(true, n, heads, hd);
  qkv.upload(randn(g_rng, N), randn(g_rng, N), randn(g_rng, N));
  Dev out(N * 2), dout(N * 2);
  upload_bf16(out, randn(g_rng, N));
  upload_bf16(dout, randn(g_rng, N));
  // Positions and the (cos, sin) table as the CUDA backend builds them (CudaBackend::rope_table).
  std::vector<int32_t> pos(size_t(n), -1);
  for (const cuda::SeqRows& sq : seqs)
    for (int64_t i = 0; i < sq.n; ++i) pos[size_t(sq.begin + i)] = int32_t(i);
  std::vector<float> table(size_t(longest * half * 2));
  for (int64_t p = 0; p < longest; ++p)
    for (int i = 0; i < half; ++i) {
      const float inv = 1.0f / std::pow(10000.0f, float(2 * i) / float(rot));
      const float ang = float(p) * inv;
      table[size_t((p * half + i) * 2)] = float(std::cos(double(ang)));
      table[size_t((p * half + i) * 2 + 1)] = float(std::sin(double(ang)));
    }
  Dev gpos(pos.size() * 4), grope(table.size() * 4);
  CK(cudaMemcpy(gpos.p, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(grope.p, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
  const cuda::RotaryGrad fold{static_cast<const int32_t*>(gpos.p),
                              static_cast<const float*>(grope.p), half};
  Dev ws(cuda::attention_backward_workspace(n, heads, hd));
  auto run = [&](QkvBufs& g, const cuda::RotaryGrad* f) {
    return cuda::launch_attention_backward(qkv.part(0), qkv.part(1), qkv.part(2), qkv.layout(),
                                           out.bf(), nullptr, dout.bf(), seqs.data(),
                                           int64_t(seqs.size()), n, heads, hd, g.part(0), g.part(1),
                                           g.part(2), ws.p, stream, f);
  };
  const bool did_fold = run(folded, &fold);
  const bool plain_folded = run(plain, nullptr);
  if (!did_fold)
    cuda::launch_rotary_qkv_rows(folded.part(0), n, heads, hd, rot, fold.pos, fold.rope, true,
                                 stream);
  cuda::launch_rotary_qkv_rows(plain.part(0), n, heads, hd, rot, fold.pos, fold.rope, true, stream);
  CK(cudaStreamSynchronize(stream));
  const char* part[3] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i)
    report(str_cat(name, "_", part[i]), rel_err(folded.download(i), plain.download(i)),
           i == 2 ? 0.0 : 1e-2);
  report(str_cat(name, "_no_fold_without_request"), plain_folded ? 1.0 : 0.0, 0);
  if (cuda::attention_backward_uses_sm90(hd))
    report(str_cat(name, "_folded_on_sm90"), did_fold ? 0.0 : 1.0, 0);
  {
    PathScope path(AttnBackwardPath::Mma);
    report(str_cat(name, "_mma_does_not_fold"), run(folded, &fold) ? 1.0 : 0.0, 0);
  }
}

void bench(cudaStream_t stream, int64_t n, int heads, int hd) {
  const int64_t H = int64_t(heads) * hd;
  const size_t N = size_t(n * H);
  QkvBufs gqkv(false, n, heads, hd), grad(false, n, heads, hd);
  Dev go(N * 2), gdo(N * 2);
  Dev glse(size_t(n) * heads * sizeof(float));
  gqkv.upload(randn(g_rng, N), randn(g_rng, N), randn(g_rng, N));
  upload_bf16(gdo, randn(g_rng, N));
  // A consistent forward output (and LSE) from the GPU's own flash attention.
  const cuda::AttentionArgs a = forward_args(gqkv, go, static_cast<float*>(glse.p), n);
  const cuda::AttentionPlan plan = cuda::plan_attention(a, num_sms());
  Dev fws(plan.workspace_bytes);
  Dev ws(cuda::attention_backward_workspace(n, heads, hd));
  const std::vector<cuda::SeqRows> one = {{0, n}};

  Timer time_it(stream);
  const double fwd_flops = 2.0 * double(n) * double(n) * hd * heads;
  const double bwd_flops = 2.5 * fwd_flops;  // = 5·n²·hd·heads
  cuda::AttentionArgs a0 = a;
  a0.lse = nullptr;
  const double tf0 = time_it([&] { cuda::run_attention(a0, plan, fws.p, stream); });
  const double tf = time_it([&] { cuda::run_attention(a, plan, fws.p, stream); });
  std::printf(
      "TIME attn_fwd_flash_n%lld_h%d_hd%d %.4f ms %.1f TFLOP/s (2*n^2*hd*heads; without "
      "lse %.4f ms)\n",
      (long long)n, heads, hd, tf, fwd_flops / (tf * 1e-3) / 1e12, tf0);
  struct Variant {
    AttnBackwardPath path;
    const char* tag;
  };
  // auto: the default (head_dim 64: the wgmma kernel on an H100, else as mma); mma: the mma.sync
  // kernels (head_dim 64: the deterministic scheme; 128: atomic dQ).
  const Variant vars[] = {{AttnBackwardPath::Auto, "auto"},
                          {AttnBackwardPath::Mma, "mma"},
                          {AttnBackwardPath::Deterministic, "det"}};
  for (const Variant& var : vars) {
    for (int wl = 1; wl >= 0; --wl) {
      PathScope path(var.path);
      const float* lse = wl ? static_cast<const float*>(glse.p) : nullptr;
      const double tb = time_it([&] {
        cuda::launch_attention_backward(gqkv.part(0), gqkv.part(1), gqkv.part(2), gqkv.layout(),
                                        go.bf(), lse, gdo.bf(), one.data(), 1, n, heads, hd,
                                        grad.part(0), grad.part(1), grad.part(2), ws.p, stream);
      });
      std::printf("TIME attn_bwd_%s_%s_n%lld_h%d_hd%d %.4f ms %.1f TFLOP/s (5*n^2*hd*heads)\n",
                  var.tag, wl ? "lse" : "nolse", (long long)n, heads, hd, tb,
                  bwd_flops / (tb * 1e-3) / 1e12);
      std::fflush(stdout);
    }
  }
}

// A batch of `count` sequences of n rows (the trainer's encoder windows): one launch per
// sequence (as before batching) against one launch for the batch, forward (with LSE) and backward
// (default path, the forward's LSE), same inputs, same stream; q, k, v in separate buffers or
// (fused) in the training pass's fused qkv layout.
void bench_batch(cudaStream_t stream, int count, int64_t n, int heads, int hd, bool fused) {
  const int64_t H = int64_t(heads) * hd, rows = count * n;
  const size_t N = size_t(rows * H);
  QkvBufs gqkv(fused, rows, heads, hd), grad(fused, rows, heads, hd);
  Dev go(N * 2), gdo(N * 2);
  Dev glse(size_t(rows) * heads * sizeof(float));
  gqkv.upload(randn(g_rng, N), randn(g_rng, N), randn(g_rng, N));
  upload_bf16(gdo, randn(g_rng, N));
  const cuda::QkvLayout layout = gqkv.layout();
  Dev ws(cuda::attention_backward_workspace(rows, heads, hd));
  const std::vector<cuda::SeqRows> seqs = seq_rows(std::vector<int64_t>(size_t(count), n));
  auto fwd_one = [&](const cuda::SeqRows& sq) {
    const cuda::AttentionArgs a = sequence_args(gqkv, go, glse, sq);
    const cuda::AttentionPlan plan = cuda::plan_attention(a, num_sms());
    RCC_CHECK(plan.workspace_bytes == 0, "bench: a key split needs a workspace");
    cuda::run_attention(a, plan, nullptr, stream);
  };
  cuda::AttentionArgs ab = forward_args(gqkv, go, static_cast<float*>(glse.p), rows);
  const std::vector<cuda::AttnTile> tiles =
      cuda::causal_tiles(seqs.data(), int64_t(seqs.size()), cuda::kFlashTileRows, true, false);

  Timer time_it(stream);
  const double fwd_flops = 2.0 * double(n) * double(n) * hd * heads * count;
  const double bwd_flops = 2.5 * fwd_flops;
  const double f_each = time_it([&] {
    for (const cuda::SeqRows& sq : seqs) fwd_one(sq);
  });
  const double f_batch = time_it([&] { cuda::launch_flash_attention_tiles(ab, tiles, stream); });
  const double f_batch_mma = [&] {
    ForwardScope path(AttnForwardPath::Mma);
    return time_it([&] { cuda::launch_flash_attention_tiles(ab, tiles, stream); });
  }();
  // Per sequence: each call sees its window as a batch of its own.
  const cuda::SeqRows whole = {0, n};
  const double b_each = time_it([&] {
    for (const cuda::SeqRows& sq : seqs) {
      const int64_t o = sq.begin * H, qo = sq.begin * layout.row_stride;
      cuda::launch_attention_backward(
          gqkv.part(0) + qo, gqkv.part(1) + qo, gqkv.part(2) + qo, layout, go.bf(o),
          static_cast<const float*>(glse.p) + sq.begin * heads, gdo.bf(o), &whole, 1, n, heads, hd,
          grad.part(0) + qo, grad.part(1) + qo, grad.part(2) + qo, ws.p, stream);
    }
  });
  auto b_batched = [&](AttnBackwardPath mode) {
    PathScope path(mode);
    return time_it([&] {
      cuda::launch_attention_backward(gqkv.part(0), gqkv.part(1), gqkv.part(2), layout, go.bf(),
                                      static_cast<const float*>(glse.p), gdo.bf(), seqs.data(),
                                      int64_t(seqs.size()), rows, heads, hd, grad.part(0),
                                      grad.part(1), grad.part(2), ws.p, stream);
    });
  };
  const double b_batch = b_batched(AttnBackwardPath::Auto);
  const double b_batch_mma = b_batched(AttnBackwardPath::Mma);
  const std::string tag = str_cat(count, "x", n, "_h", heads, "_hd", hd, fused ? "_fused" : "");
  auto line = [&](const char* what, double ms, double flops) {
    std::printf("TIME attn_%s_%s %.4f ms %.1f TFLOP/s\n", what, tag.c_str(), ms,
                flops / (ms * 1e-3) / 1e12);
  };
  line("fwd_per_sequence", f_each, fwd_flops);
  line("fwd_batched", f_batch, fwd_flops);
  line("fwd_batched_mma", f_batch_mma, fwd_flops);
  std::printf("RATIO attn_fwd_batched_auto_over_mma_%s %.3fx\n", tag.c_str(),
              f_batch_mma / f_batch);
  line("bwd_per_sequence", b_each, bwd_flops);
  line("bwd_batched", b_batch, bwd_flops);
  line("bwd_batched_mma", b_batch_mma, bwd_flops);
  std::printf("RATIO attn_bwd_batched_auto_over_mma_%s %.3fx\n", tag.c_str(),
              b_batch_mma / b_batch);
  std::printf("RATIO attn_batched_over_per_sequence_%s fwd %.3fx bwd %.3fx fwd+bwd %.3fx\n",
              tag.c_str(), f_each / f_batch, b_each / b_batch,
              (f_each + b_each) / (f_batch + b_batch));
  std::fflush(stdout);
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
      std::fprintf(stderr,
                   "usage: rcc_cuda_attn_bwd_check [--no-bench] [--bench-only] [--device N]\n");
      return 2;
    }
  }
  try {
    CK(cudaSetDevice(dev));
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, dev));
    std::printf(
        "device: %s (compute capability %d.%d); default attention kernels for head_dim 64: %s\n",
        prop.name, prop.major, prop.minor, cuda::sm90_available() ? "wgmma (sm_90a)" : "mma.sync");
    cudaStream_t stream;
    CK(cudaStreamCreate(&stream));
    if (run_checks) {
      struct Case {
        std::vector<int64_t> lens;
        int heads, hd;
      };
      // Batches: equal windows (as the encoder's), uneven lengths with partial tiles and a
      // 1-row sequence (decoder-like), more query tiles in one sequence than the others.
      const Case cases[] = {{{1}, 1, 64},
                            {{37}, 2, 64},
                            {{64}, 4, 64},
                            {{130}, 3, 64},
                            {{200}, 2, 128},
                            {{513}, 4, 128},
                            {{1000}, 2, 64},
                            {{77}, 3, 32},
                            {{90}, 2, 80},
                            {{129}, 1, 128},
                            {{128, 128, 128}, 2, 64},
                            {{300, 1, 65, 257}, 3, 64},
                            {{70, 200, 5}, 2, 128},
                            {{33, 150, 64}, 2, 80},
                            {{640, 64, 129}, 1, 64}};
      // Every case in both layouts: separate q, k, v buffers and the training pass's fused qkv
      // (q, k, v and dq, dk, dv read and written in place in [rows, heads, 3, hd]).
      for (const bool fused : {false, true}) {
        for (const Case& c : cases) check_case(stream, c.lens, c.heads, c.hd, false, fused);
        // More tiles than one launch takes (cuda::kTilesPerLaunch): 1100 short sequences.
        std::vector<int64_t> many;
        for (int i = 0; i < 1100; ++i) many.push_back(1 + i % 3);
        check_case(stream, many, 2, 64, false, fused);
        check_case(stream, many, 1, 128, false, fused);
        // The tensor-core cases once more on the forced fallback.
        for (const Case& c : cases)
          if (has_mma_path(c.hd)) check_case(stream, c.lens, c.heads, c.hd, true, fused);
      }
      for (const int rot : {16, 32, 64}) check_rotary_fold(stream, {300, 1, 65, 257}, 3, rot);
      check_rotary_fold(stream, {1000}, 2, 16);
      check_errors(stream);
      // On compute capability 9.0 the checks above must have run the wgmma kernel (built for
      // sm_90a): a build or dispatch that silently lost it fails here.
      if (prop.major == 9 && prop.minor == 0) {
        report("attn_bwd_auto_takes_wgmma_on_sm90",
               cuda::attention_backward_uses_sm90(64) ? 0.0 : 1.0, 0);
        report("attn_fwd_batched_auto_takes_wgmma_on_sm90", cuda::sm90_available() ? 0.0 : 1.0, 0);
      }
      std::printf("SUMMARY %d/%d checks passed\n", g_total - g_fail, g_total);
    }
    if (run_bench) {
      bench(stream, 2048, 12, 64);
      bench(stream, 2048, 16, 128);
      for (const bool fused : {false, true}) {  // separate q, k, v; the training pass's layout
        bench_batch(stream, 16, 2048, 12, 64, fused);  // 2×160m's encoder windows per step
        bench_batch(stream, 8, 2048, 16, 64, fused);   // 2×410m's
        bench_batch(stream, 4, 2048, 16, 128, fused);
      }
    }
    CK(cudaStreamDestroy(stream));
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return g_fail ? 1 : 0;
}
