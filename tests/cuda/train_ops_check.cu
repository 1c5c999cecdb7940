// rcc_cuda_train_check: the CUDA training kernels (cuda/train_kernels.h, all but the attention
// backward, which has its own check) against the CPU ops of src/ops and the CPU backend's AdamW
// (what train/optimizer.cpp runs), on fresh random inputs of odd sizes; the layer-norm checks are
// in train_norm_check.cu, the shared stream and transfers in train_check_io.h. Needs a GPU;
// not a ctest.
//
//   build-cuda/rcc_cuda_train_check [--device N]
//
// One line per check: "PASS|FAIL name rel_err tol", rel_err = ‖out − ref‖₂ / ‖ref‖₂ over all
// elements (NaN fails; outputs that a launcher overwrites are filled with NaN first, so an element
// it never writes fails). Inputs given to the CPU are the bf16-rounded values the GPU sees, so the
// error measures the GPU op, not the input rounding. "+=" outputs start from a random non-zero
// accumulator. Tolerances:
//   1e-2  bf16 outputs (one rounding: relative 2^-9 ≈ 2e-3 per element, RMS ≈ 1e-3, plus f32
//         accumulation-order noise of the row statistics);
//   1e-3  f32 accumulations over bf16 inputs (linear_backward dW/db, layer-norm dw/db,
//         embedding_backward):
//         the inputs are exact in f32, only the summation order differs (relative ~1e-6 for
//         these sizes; 1e-3 leaves room for the cancellation in sums of random signs);
//   1e-5  f32 outputs of f32 math (adamw, scale_f32) and cross-entropy per-row losses (f32 max,
//         exp and log against the CPU's double: a few ulp of a value ~log V);
//   1e-3  also the AdamW update p − p0 (a difference of f32 parameters: a 1-ulp difference in p
//         is ~1e-5 of the update here);
//   1e-9  sum_squares against the CPU's double sum (both sum exact f32 squares in double; only
//         the order differs: relative ~n·2^-53);
//   0     exact by construction: scatter_add_rows (bf16(a + b), the same single rounding on both
//         sides), adamw against the same f32 loop fed the same f32 constants (every operation is
//         IEEE-rounded on its own on both sides), run-to-run determinism of the kernels that
//         claim it, layer_norm_pair's copy of x and its outputs against the single-norm launch
//         (the same kernel arithmetic).
// Exit status 1 when any check fails.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "check_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "cuda/train_kernels.h"
#include "ops/activation.h"
#include "ops/cross_entropy.h"
#include "ops/embedding_backward.h"
#include "ops/linear.h"
#include "ops/rotary.h"
#include "train_check_io.h"

using namespace rcc;
using namespace rcc::gpu_check;
using rcc::cuda::bf16;

namespace {

// ---------------------------------------------------------------------------------------------
void check_gelu_backward() {
  for (int64_t n :
       {int64_t(1), int64_t(1000), int64_t(1001), int64_t(1) << 20, (int64_t(1) << 20) + 3}) {
    for (int mode = 0; mode < 3; ++mode) {  // 0: separate dx, 1: dx aliases dy, 2: offset by 1
      if (mode == 2 && n == 1) continue;
      const int64_t off = mode == 2 ? 1 : 0;
      std::vector<float> pre = round_bf16(randn(g_rng, size_t(n + off), 2.0f));
      std::vector<float> dy = round_bf16(randn(g_rng, size_t(n + off)));
      std::vector<float> ref(static_cast<size_t>(n));
      ops::gelu_backward(pre.data() + off, dy.data() + off, ref.data(), n);
      Dev dpre(size_t(n + off) * 2), ddy(size_t(n + off) * 2), ddx(size_t(n + off) * 2);
      put_bf16(dpre.p, pre);
      put_bf16(ddy.p, dy);
      ddx.poison(g_stream);
      bf16* out = mode == 1 ? ddy.bf() : ddx.bf(off);
      cuda::launch_gelu_backward(dpre.bf(off), ddy.bf(off), out, n, g_stream);
      static const char* tags[] = {"", "_alias", "_offset"};
      report(str_cat("gelu_backward_", n, tags[mode]), rel_err(get_bf16(out, size_t(n)), ref),
             1e-2);
    }
  }
}

// The backend's gelu_backward over [rows, width] with the bias gradient (fused: column partials
// taken while dx is written; unfused, RCC_CUDA_FUSED=0: a separate product) against the CPU's
// ops::gelu_backward, db against the row sums of the CPU's dx rounded to bf16 (the values the GPU
// sums) added to a random accumulator; in place (dx = dy) and out of place, on the 16-byte path and
// the scalar one (width % 8 != 0). Tolerances: dx 1e-2 (bf16 output), db 1e-3 (f32 sums).
void check_gelu_backward_bias(Backend& be, const std::string& label) {
  struct Case {
    int64_t rows, width;
    bool in_place;
  };
  for (const Case& c : {Case{1, 8, false}, Case{7, 3072, true}, Case{130, 3072, false},
                        Case{4099, 3072, true}, Case{33, 100, false}, Case{20000, 768, true}}) {
    const size_t n = size_t(c.rows * c.width);
    const std::vector<float> pre = round_bf16(randn(g_rng, n, 1.5f));
    const std::vector<float> dy = round_bf16(randn(g_rng, n));
    const std::vector<float> db0 = randn(g_rng, size_t(c.width));
    std::vector<float> dx(n), db = db0;
    ops::gelu_backward(pre.data(), dy.data(), dx.data(), int64_t(n));
    const std::vector<float> dx16 = round_bf16(dx);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t k = 0; k < c.width; ++k) db[size_t(k)] += dx16[size_t(r * c.width + k)];
    DeviceBuffer gpre(be, be.act_bytes(int64_t(n))), gdy(be, be.act_bytes(int64_t(n))),
        gdx(be, be.act_bytes(int64_t(n))), gdb(be, db0.size() * 4);
    be.upload_f32(pre.data(), int64_t(n), gpre.get());
    be.upload_f32(dy.data(), int64_t(n), gdy.get());
    RCC_CUDA_CHECK(cudaMemset(gdx.get(), 0xFF, gdx.bytes()));  // NaN: must be overwritten
    RCC_CUDA_CHECK(cudaDeviceSynchronize());
    be.copy_to_device(gdb.get(), db0.data(), gdb.bytes());
    void* out = c.in_place ? gdy.get() : gdx.get();
    be.gelu_backward(gpre.get(), gdy.get(), out, c.rows, c.width, static_cast<float*>(gdb.get()));
    std::vector<float> got_dx(n), got_db(db.size());
    be.download_f32(out, int64_t(n), got_dx.data());
    be.copy_to_host(got_db.data(), gdb.get(), gdb.bytes());
    const std::string tag = str_cat(label, c.rows, "x", c.width, c.in_place ? "_in_place" : "");
    report("gelu_backward_bias_dx_" + tag, rel_err(got_dx, dx), 1e-2);
    report("gelu_backward_bias_db_" + tag, rel_err(got_db, db), 1e-3);
  }
}

// The backend's bias_backward (fused: the column-sum kernel, both outputs from one read; unfused,
// RCC_CUDA_FUSED=0: a matrix-vector product per output) against row sums on the host of the same
// bf16 values, added to random accumulators; with and without the second output, on the 16-byte
// path and the scalar one (width % 8 != 0), over more rows than one chunk of the column kernel;
// a rerun from the same start gives the same bits. Tolerance 1e-3: f32 sums in a different order.
void check_bias_backward(Backend& be, const std::string& label) {
  struct Case {
    int64_t rows, width;
    bool second;
  };
  for (const Case& c : {Case{1, 8, true}, Case{7, 100, false}, Case{130, 768, true},
                        Case{4099, 2304, false}, Case{20000, 768, true}, Case{33, 3072, true}}) {
    const size_t n = size_t(c.rows * c.width);
    const std::vector<float> dy = round_bf16(randn(g_rng, n));
    const std::vector<float> db0 = randn(g_rng, size_t(c.width)),
                             db20 = randn(g_rng, size_t(c.width));
    std::vector<float> db = db0, db2 = db20;
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t k = 0; k < c.width; ++k) {
        db[size_t(k)] += dy[size_t(r * c.width + k)];
        db2[size_t(k)] += dy[size_t(r * c.width + k)];
      }
    DeviceBuffer gdy(be, be.act_bytes(int64_t(n))), gdb(be, db0.size() * 4),
        gdb2(be, db20.size() * 4);
    be.upload_f32(dy.data(), int64_t(n), gdy.get());
    be.copy_to_device(gdb.get(), db0.data(), gdb.bytes());
    be.copy_to_device(gdb2.get(), db20.data(), gdb2.bytes());
    be.bias_backward(gdy.get(), c.rows, c.width, static_cast<float*>(gdb.get()),
                     c.second ? static_cast<float*>(gdb2.get()) : nullptr);
    std::vector<float> got(db.size()), got2(db2.size());
    be.copy_to_host(got.data(), gdb.get(), gdb.bytes());
    be.copy_to_host(got2.data(), gdb2.get(), gdb2.bytes());
    const std::string tag = str_cat(label, c.rows, "x", c.width, c.second ? "_two" : "");
    report("bias_backward_db_" + tag, rel_err(got, db), 1e-3);
    // Deterministic: the same sums, bit for bit, from the same start.
    std::vector<float> again(db.size());
    be.copy_to_device(gdb.get(), db0.data(), gdb.bytes());
    be.bias_backward(gdy.get(), c.rows, c.width, static_cast<float*>(gdb.get()), nullptr);
    be.copy_to_host(again.data(), gdb.get(), gdb.bytes());
    report("bias_backward_rerun_bitwise_" + tag,
           std::memcmp(again.data(), got.data(), got.size() * 4) == 0 ? 0.0 : 1.0, 0);
    if (c.second)
      report("bias_backward_db2_" + tag, rel_err(got2, db2), 1e-3);
    else
      report("bias_backward_db2_untouched_" + tag,
             std::memcmp(got2.data(), db20.data(), got2.size() * 4) == 0 ? 0.0 : 1.0, 0);
  }
}

// The backend's linear_backward (cuBLAS: dX = dY·W, dW += dYᵀ·X into f32, db += dYᵀ·1) against
// the CPU's ops::linear_backward on the same bf16-rounded inputs, dX both overwritten and
// accumulated, dW and db accumulated onto random non-zero values.
void check_linear_backward(Backend& be, const std::string& label) {
  struct Case {
    int64_t rows, K, N;
  };
  const Case cases[] = {{1, 64, 64},       {7, 100, 36},     {130, 768, 768},
                        {4099, 768, 3072}, {333, 3072, 768}, {5, 8, 3}};
  for (const Case& c : cases) {
    for (bool acc : {false, true}) {
      const std::vector<float> x = round_bf16(randn(g_rng, size_t(c.rows * c.K)));
      const std::vector<float> w = round_bf16(randn(g_rng, size_t(c.N * c.K), 0.05f));
      const std::vector<float> dy = round_bf16(randn(g_rng, size_t(c.rows * c.N)));
      const std::vector<float> dx0 = round_bf16(randn(g_rng, size_t(c.rows * c.K)));
      const std::vector<float> dw0 = randn(g_rng, size_t(c.N * c.K)),
                               db0 = randn(g_rng, size_t(c.N));
      std::vector<float> dx = acc ? dx0 : std::vector<float>(dx0.size(), 0.0f), dw = dw0, db = db0;
      const Tensor W = Tensor::from_f32(w, {c.N, c.K});
      ops::linear_backward(x.data(), c.rows, W, dy.data(), dx.data(), dw.data(), db.data());

      const Tensor Wd = be.prepare_weight(W);
      DeviceBuffer gx(be, be.act_bytes(c.rows * c.K)), gdy(be, be.act_bytes(c.rows * c.N)),
          gdx(be, be.act_bytes(c.rows * c.K)), gdw(be, dw0.size() * 4), gdb(be, db0.size() * 4);
      be.upload_f32(x.data(), c.rows * c.K, gx.get());
      be.upload_f32(dy.data(), c.rows * c.N, gdy.get());
      if (acc)
        be.upload_f32(dx0.data(), c.rows * c.K, gdx.get());
      else
        RCC_CUDA_CHECK(cudaMemset(gdx.get(), 0xFF, gdx.bytes()));  // NaN: must be overwritten
      RCC_CUDA_CHECK(cudaDeviceSynchronize());  // the backend's stream does not wait for memsets
      be.copy_to_device(gdw.get(), dw0.data(), gdw.bytes());
      be.copy_to_device(gdb.get(), db0.data(), gdb.bytes());
      be.linear_backward(gx.get(), c.rows, Wd, gdy.get(), gdx.get(), acc,
                         static_cast<float*>(gdw.get()), static_cast<float*>(gdb.get()));
      std::vector<float> got_dx(dx.size()), got_dw(dw.size()), got_db(db.size());
      be.download_f32(gdx.get(), c.rows * c.K, got_dx.data());
      be.copy_to_host(got_dw.data(), gdw.get(), gdw.bytes());
      be.copy_to_host(got_db.data(), gdb.get(), gdb.bytes());
      const std::string tag = str_cat(label, c.rows, "x", c.K, "x", c.N, acc ? "_acc" : "");
      report("linear_backward_dx_" + tag, rel_err(got_dx, dx), 1e-2);
      report("linear_backward_dW_" + tag, rel_err(got_dw, dw), 1e-3);
      report("linear_backward_db_" + tag, rel_err(got_db, db), 1e-3);
    }
  }
}

void check_scatter_add_rows() {
  struct Case {
    int64_t n, width, dst_rows, off;
  };
  for (const Case& c : {Case{1, 64, 5, 0}, Case{7, 100, 50, 0}, Case{130, 768, 300, 0},
                        Case{130, 768, 300, 1}, Case{9, 13, 20, 0}}) {
    std::vector<int64_t> perm(size_t(c.dst_rows));
    std::iota(perm.begin(), perm.end(), int64_t(0));
    std::shuffle(perm.begin(), perm.end(), g_rng);
    std::vector<int64_t> idx(perm.begin(), perm.begin() + c.n);  // distinct
    std::vector<float> src = round_bf16(randn(g_rng, size_t(c.n * c.width + c.off)));
    std::vector<float> dst = round_bf16(randn(g_rng, size_t(c.dst_rows * c.width + c.off)));
    std::vector<float> ref = dst;
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t col = 0; col < c.width; ++col) {
        float& d = ref[size_t(c.off + idx[size_t(i)] * c.width + col)];
        d = bf16_to_f32(f32_to_bf16(d + src[size_t(c.off + i * c.width + col)]));
      }
    Dev dsrc(src.size() * 2), ddst(dst.size() * 2), didx(idx.size() * 8);
    put_bf16(dsrc.p, src);
    put_bf16(ddst.p, dst);
    put(didx.p, idx);
    cuda::launch_scatter_add_rows(dsrc.bf(c.off), didx.as<int64_t>(), c.n, c.width, ddst.bf(c.off),
                                  g_stream);
    report(str_cat("scatter_add_rows_", c.n, "x", c.width, c.off ? "_offset" : ""),
           rel_err(get_bf16(ddst.p, dst.size()), ref), 0);
  }
}

void check_embedding_backward() {
  struct Case {
    int64_t n, H, V;
  };
  for (const Case& c : {Case{1, 64, 1000}, Case{7, 100, 1000}, Case{130, 768, 1000},
                        Case{130, 768, 20}, Case{1000, 13, 5}}) {
    std::vector<int32_t> ids(size_t(c.n));
    std::uniform_int_distribution<int32_t> pick(0, int32_t(c.V - 1));
    for (int32_t& i : ids) i = pick(g_rng);  // V = 20, 5: many repeats
    std::vector<float> dx = round_bf16(randn(g_rng, size_t(c.n * c.H)));
    std::vector<float> table = randn(g_rng, size_t(c.V * c.H));
    std::vector<float> ref = table;
    ops::embedding_backward(ids.data(), c.n, dx.data(), c.H, ref.data());
    Dev dids(ids.size() * 4), ddx(dx.size() * 2), dtab(table.size() * 4);
    put(dids.p, ids);
    put_bf16(ddx.p, dx);
    put_f32(dtab.p, table);
    cuda::launch_embedding_backward(dids.as<int32_t>(), c.n, ddx.bf(), c.H, dtab.as<float>(),
                                    g_stream);
    report(str_cat("embedding_backward_", c.n, "x", c.H, "_V", c.V),
           rel_err(get_f32(dtab.p, table.size()), ref), 1e-3);
  }
}

void check_cross_entropy() {
  struct Case {
    int64_t rows, V;
    float logit_std;
    bool with_d;
  };
  for (const Case& c :
       {Case{1, 1000, 1.0f, true}, Case{7, 1000, 1.0f, true}, Case{7, 1001, 3.0f, true},
        Case{130, 1000, 1.0f, true}, Case{130, 50304, 1.0f, true}, Case{7, 50304, 20.0f, true},
        Case{130, 50304, 2.0f, false}, Case{3, 7, 1.0f, true}}) {
    const size_t n = size_t(c.rows * c.V);
    std::vector<float> logits = randn(g_rng, n, c.logit_std, 0.5f);
    std::vector<int32_t> targets(size_t(c.rows));
    std::vector<float> weights(size_t(c.rows));
    std::uniform_int_distribution<int32_t> pick(0, int32_t(c.V - 1));
    for (int64_t r = 0; r < c.rows; ++r) {
      targets[size_t(r)] = pick(g_rng);
      // Every third row masked (rows 1 and 4 of 7 ...), others weight 1 or 0.5.
      weights[size_t(r)] = r % 3 == 1 ? 0.0f : (r % 2 ? 0.5f : 1.0f);
    }
    if (c.rows == 1) weights[0] = 1.0f;
    // A confident row: the target logit well above the rest (small loss).
    if (c.rows >= 3) logits[size_t(2 * c.V + targets[2])] += 15.0f;
    const float scale = 1.0f / float(c.rows);
    // CPU, one row at a time for the per-row losses.
    std::vector<float> ref_loss(size_t(c.rows)), ref_d(c.with_d ? n : 0);
    for (int64_t r = 0; r < c.rows; ++r)
      ref_loss[size_t(r)] = float(ops::cross_entropy(
          logits.data() + r * c.V, 1, c.V, &targets[size_t(r)], &weights[size_t(r)],
          c.with_d ? ref_d.data() + r * c.V : nullptr, scale));
    Dev dl(n * 4), dt(size_t(c.rows) * 4), dw(size_t(c.rows) * 4), dloss(size_t(c.rows) * 4),
        dd(c.with_d ? n * 2 : 0);
    put_f32(dl.p, logits);
    put(dt.p, targets);
    put_f32(dw.p, weights);
    dloss.poison(g_stream);
    dd.poison(g_stream);
    cuda::launch_cross_entropy(dl.as<float>(), c.rows, c.V, dt.as<int32_t>(), dw.as<float>(), scale,
                               dloss.as<float>(), c.with_d ? dd.bf() : nullptr, g_stream);
    const std::string tag = str_cat(c.rows, "x", c.V, "_std", c.logit_std);
    const std::vector<float> loss = get_f32(dloss.p, size_t(c.rows));
    report("cross_entropy_loss_" + tag, rel_err(loss, ref_loss), 1e-5);
    if (c.with_d) report("cross_entropy_dlogits_" + tag, rel_err(get_bf16(dd.p, n), ref_d), 1e-2);
    // Deterministic per-row losses.
    dloss.poison(g_stream);
    cuda::launch_cross_entropy(dl.as<float>(), c.rows, c.V, dt.as<int32_t>(), dw.as<float>(), scale,
                               dloss.as<float>(), nullptr, g_stream);
    report("cross_entropy_deterministic_" + tag, mismatch(get_f32(dloss.p, size_t(c.rows)), loss),
           0);
  }
}

// Run last: an out-of-range target with a non-zero weight must neither fault nor write outside
// the row; its loss is NaN, the other rows are unaffected.
void check_cross_entropy_bad_target() {
  const int64_t rows = 3, V = 1000;
  std::vector<float> logits = randn(g_rng, size_t(rows * V));
  std::vector<int32_t> targets = {5, int32_t(V), -1};
  std::vector<float> weights = {1.0f, 1.0f, 1.0f};
  Dev dl(logits.size() * 4), dt(12), dw(12), dloss(12), dd(logits.size() * 2 + 64);
  put_f32(dl.p, logits);
  put(dt.p, targets);
  put_f32(dw.p, weights);
  dd.poison(g_stream);
  cuda::launch_cross_entropy(dl.as<float>(), rows, V, dt.as<int32_t>(), dw.as<float>(), 1.0f,
                             dloss.as<float>(), dd.bf(), g_stream);
  const cudaError_t e = cudaStreamSynchronize(g_stream);
  bool ok = e == cudaSuccess;
  if (ok) {
    const std::vector<float> loss = get_f32(dloss.p, 3);
    const std::vector<float> d = get_bf16(dd.p, size_t(rows * V) + 32);
    ok = std::isfinite(loss[0]) && std::isnan(loss[1]) && std::isnan(loss[2]);
    for (size_t i = 0; i < size_t(rows * V); ++i) ok = ok && std::isfinite(d[i]);
    for (size_t i = size_t(rows * V); i < d.size(); ++i) ok = ok && std::isnan(d[i]);  // untouched
  } else {
    std::printf("cuda error: %s\n", cudaGetErrorString(e));
  }
  report("cross_entropy_bad_target_no_fault", ok ? 0.0 : 1.0, 0);
}

void check_sum_squares_scale() {
  for (int64_t n : {int64_t(1), int64_t(1000), (int64_t(1) << 20) + 3, int64_t(5000000)}) {
    std::vector<float> x = randn(g_rng, size_t(n), 0.01f);
    double ref = 0;
    for (float v : x) ref += double(v) * double(v);
    Dev dx(size_t(n) * 4), ws(cuda::sum_squares_workspace(n)), dout(8);
    put_f32(dx.p, x);
    RCC_CUDA_CHECK(cudaMemsetAsync(dout.p, 0xFF, 8, g_stream));
    cuda::launch_sum_squares(dx.as<float>(), n, ws.p, dout.as<double>(), g_stream);
    double got = 0;
    to_host(&got, dout.p, 8);
    report(str_cat("sum_squares_", n), std::fabs(got - ref) / ref, 1e-9);

    const float s = 0.3711f;
    std::vector<float> ref_s = x;
    for (float& v : ref_s) v *= s;
    cuda::launch_scale_f32(dx.as<float>(), n, s, g_stream);
    report(str_cat("scale_f32_", n), rel_err(get_f32(dx.p, size_t(n)), ref_s), 1e-5);
  }
}

// Rounds to f32 through memory: a compiler cannot fuse a product stored here into a following
// addition (GCC contracts a·b + c into an FMA by default where the target has one, e.g. aarch64).
inline float rn(float x) {
  volatile float t = x;
  return t;
}
// The CPU backend's AdamW loop (backend/cpu_backend.cpp, Backend::adamw_tensors) for one tensor,
// with every operation rounded on its own, as the kernel does.
void adamw_cpu(float* p, const float* g, float* m, float* v, int64_t n, bool decayed, float decay,
               float w_lerp, float b2, float one_minus_b2, float eps, float step_size,
               float bc2_sqrt) {
  for (int64_t i = 0; i < n; ++i) {
    if (decayed) p[i] = rn(p[i] * decay);
    m[i] = rn(m[i] + rn(w_lerp * rn(g[i] - m[i])));
    v[i] = rn(rn(v[i] * b2) + rn(rn(one_minus_b2 * g[i]) * g[i]));
    const float denom = rn(rn(std::sqrt(v[i]) / bc2_sqrt) + eps);
    p[i] = rn(p[i] - rn(step_size * rn(m[i] / denom)));
  }
}

// One tensor (a one-entry Backend::adamw_tensors table, gradients unscaled, no compute copy) on
// the GPU against the CPU backend's loop and against adamw_cpu.
void check_adamw(Backend& be) {
  const double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, lr = 3e-4, wd = 0.1;
  const int64_t t = 7;
  const double bc1 = 1.0 - std::pow(beta1, double(t)), bc2 = 1.0 - std::pow(beta2, double(t));
  const float step_size = float(lr / bc1), bc2_sqrt = float(std::sqrt(bc2));
  for (int64_t n : {int64_t(1), int64_t(1000), (int64_t(1) << 20) + 3}) {
    for (bool decayed : {false, true}) {
      const float decay = float(1.0 - lr * wd);  // applied to decayed tensors only
      std::vector<Backend::AdamWTensor> one(1);
      one[0].numel = n;
      one[0].decayed = decayed;
      std::vector<float> p0 = randn(g_rng, size_t(n), 0.05f), g = randn(g_rng, size_t(n), 1e-3f);
      std::vector<float> m0 = randn(g_rng, size_t(n), 1e-3f), v0 = randn(g_rng, size_t(n), 1e-3f);
      for (float& x : v0) x = x * x;
      // The f32 constants as Backend::adamw_tensors' implementations derive them from the doubles.
      const float w_lerp = float(1.0 - beta1), b2 = float(beta2), omb2 = float(1.0 - beta2),
                  eps32 = float(eps);
      // Reference 1: the CPU backend's AdamW (what train/optimizer.cpp runs on the CPU; built
      // with the host flags, where the compiler may contract a·b + c into an FMA).
      std::vector<float> p1 = p0, m1 = m0, v1 = v0;
      cpu_backend().adamw_tensors(p1.data(), g.data(), m1.data(), v1.data(), one, decay, beta1,
                                  beta2, eps, step_size, bc2_sqrt, 1.0f);
      // Reference 2: the same loop with every operation rounded on its own (adamw_cpu), as the
      // kernel does: bit-identical results expected.
      std::vector<float> p2 = p0, m2 = m0, v2 = v0;
      adamw_cpu(p2.data(), g.data(), m2.data(), v2.data(), n, decayed, decay, w_lerp, b2, omb2,
                eps32, step_size, bc2_sqrt);
      const size_t bytes = size_t(n) * 4;
      DeviceBuffer dp(be, bytes), dg(be, bytes), dm(be, bytes), dv(be, bytes);
      be.copy_to_device(dp.get(), p0.data(), bytes);
      be.copy_to_device(dg.get(), g.data(), bytes);
      be.copy_to_device(dm.get(), m0.data(), bytes);
      be.copy_to_device(dv.get(), v0.data(), bytes);
      be.adamw_tensors(static_cast<float*>(dp.get()), static_cast<const float*>(dg.get()),
                       static_cast<float*>(dm.get()), static_cast<float*>(dv.get()), one, decay,
                       beta1, beta2, eps, step_size, bc2_sqrt, 1.0f);
      const size_t un = static_cast<size_t>(n);
      std::vector<float> gp(un), gm(un), gv(un);
      be.copy_to_host(gp.data(), dp.get(), bytes);
      be.copy_to_host(gm.data(), dm.get(), bytes);
      be.copy_to_host(gv.data(), dv.get(), bytes);
      const std::string tag = str_cat(n, decayed ? "_decay" : "");
      report("adamw_p_" + tag, rel_err(gp, p1), 1e-5);
      report("adamw_m_" + tag, rel_err(gm, m1), 1e-5);
      report("adamw_v_" + tag, rel_err(gv, v1), 1e-5);
      // The update itself (p − p0), which the p error above hides under |p| ≫ |Δp|. A 1-ulp
      // difference in p is ~1e-4 of Δp here, so 1e-3.
      std::vector<float> d_gpu(static_cast<size_t>(n)), d_ref(static_cast<size_t>(n));
      for (size_t i = 0; i < size_t(n); ++i) {
        d_gpu[i] = float(double(gp[i]) - double(p0[i]));
        d_ref[i] = float(double(p1[i]) - double(p0[i]));
      }
      report("adamw_dp_" + tag, rel_err(d_gpu, d_ref), 1e-3);
      std::vector<float> all_gpu = gp, all_ref = p2;
      all_gpu.insert(all_gpu.end(), gm.begin(), gm.end());
      all_gpu.insert(all_gpu.end(), gv.begin(), gv.end());
      all_ref.insert(all_ref.end(), m2.begin(), m2.end());
      all_ref.insert(all_ref.end(), v2.begin(), v2.end());
      report("adamw_bitwise_f32_loop_" + tag, mismatch(all_gpu, all_ref), 0);
    }
  }
}

// The fused optimizer step (Backend::adamw_tensors: one launch over a chunk table) against the
// per-element loop above on the clipped gradients rn(g · scale), bit for bit (0): tensors of
// several chunks, a chunk's exact size, one element, decayed or not, bf16 and f32 compute copies
// (= the rounded / exact updated parameters, 0) or none; padding between tensors, the gradients
// and the compute buffer outside the copies stay untouched (0). A second step with a rebuilt but
// equal table (no re-upload) and another decay checks the cached table path.
void check_adamw_tensors(Backend& be) {
  const double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, wd = 0.1;
  struct T {
    int64_t offset, numel;
    bool decayed;
    int compute;  // 0 none, 1 bf16, 2 f32
  };
  const std::vector<T> ts = {{0, 20000, true, 1},
                             {20016, 7, false, 2},
                             {20032, cuda::kAdamWChunk, true, 0},
                             {28224, 1, false, 2},
                             {28240, 3, true, 1}};
  const int64_t n = 28256;
  std::vector<float> p = randn(g_rng, size_t(n), 0.05f), g = randn(g_rng, size_t(n), 1e-2f);
  std::vector<float> m = randn(g_rng, size_t(n), 1e-3f), v = randn(g_rng, size_t(n), 1e-3f);
  for (float& x : v) x = x * x;
  DeviceBuffer dp(be, size_t(n) * 4), dg(be, size_t(n) * 4), dm(be, size_t(n) * 4),
      dv(be, size_t(n) * 4), dc(be, size_t(n) * 4);  // compute copies at each tensor's offset
  be.copy_to_device(dp.get(), p.data(), size_t(n) * 4);
  be.copy_to_device(dg.get(), g.data(), size_t(n) * 4);
  be.copy_to_device(dm.get(), m.data(), size_t(n) * 4);
  be.copy_to_device(dv.get(), v.data(), size_t(n) * 4);
  std::vector<float> c0(size_t(n), -7.0f);
  be.copy_to_device(dc.get(), c0.data(), size_t(n) * 4);
  for (int t = 1; t <= 2; ++t) {
    const double lr = 1e-3 * t;
    const double bc1 = 1.0 - std::pow(beta1, double(t)), bc2 = 1.0 - std::pow(beta2, double(t));
    const float step_size = float(lr / bc1), bc2_sqrt = float(std::sqrt(bc2));
    const float decay = float(1.0 - lr * wd), scale = t == 1 ? 0.37f : 1.0f;
    std::vector<Backend::AdamWTensor> bt;
    for (const T& x : ts) {
      Backend::AdamWTensor a;
      a.offset = x.offset;
      a.numel = x.numel;
      a.decayed = x.decayed;
      a.compute_matrix = x.compute == 1;
      a.compute = x.compute == 0   ? nullptr
                  : x.compute == 1 ? static_cast<void*>(static_cast<bf16*>(dc.get()) + x.offset)
                                   : static_cast<void*>(static_cast<float*>(dc.get()) + x.offset);
      bt.push_back(a);
    }
    be.adamw_tensors(static_cast<float*>(dp.get()), static_cast<const float*>(dg.get()),
                     static_cast<float*>(dm.get()), static_cast<float*>(dv.get()), bt, decay, beta1,
                     beta2, eps, step_size, bc2_sqrt, scale);
    std::vector<float> rp = p, rm = m, rv = v;
    for (const T& x : ts) {
      std::vector<float> gs(g.begin() + x.offset, g.begin() + x.offset + x.numel);
      for (float& e : gs) e = rn(e * scale);
      adamw_cpu(rp.data() + x.offset, gs.data(), rm.data() + x.offset, rv.data() + x.offset,
                x.numel, x.decayed, decay, float(1.0 - beta1), float(beta2), float(1.0 - beta2),
                float(eps), step_size, bc2_sqrt);
    }
    const size_t un = static_cast<size_t>(n);
    std::vector<float> gp(un), gm(un), gv(un), gg(un), gc(un);
    be.copy_to_host(gp.data(), dp.get(), size_t(n) * 4);
    be.copy_to_host(gm.data(), dm.get(), size_t(n) * 4);
    be.copy_to_host(gv.data(), dv.get(), size_t(n) * 4);
    be.copy_to_host(gg.data(), dg.get(), size_t(n) * 4);
    be.copy_to_host(gc.data(), dc.get(), size_t(n) * 4);
    const std::string tag = str_cat("step", t);
    report("adamw_tensors_p_bitwise_" + tag, mismatch(gp, rp), 0);
    report("adamw_tensors_m_bitwise_" + tag, mismatch(gm, rm), 0);
    report("adamw_tensors_v_bitwise_" + tag, mismatch(gv, rv), 0);
    report("adamw_tensors_grads_untouched_" + tag, mismatch(gg, g), 0);
    // Compute copies: bf16 ones occupy the first half of their tensor's f32 span of dc.
    size_t bad = 0;
    std::vector<char> written(un * 4, 0);
    for (const T& x : ts) {
      if (x.compute == 2) {
        for (int64_t i = 0; i < x.numel; ++i) {
          bad += std::memcmp(&gc[size_t(x.offset + i)], &gp[size_t(x.offset + i)], 4) != 0;
          std::fill_n(written.begin() + (x.offset + i) * 4, 4, 1);
        }
      } else if (x.compute == 1) {
        const uint16_t* h = reinterpret_cast<const uint16_t*>(gc.data()) + x.offset;
        for (int64_t i = 0; i < x.numel; ++i) {
          bad += h[i] != f32_to_bf16(gp[size_t(x.offset + i)]);
          std::fill_n(written.begin() + (x.offset + i) * 2, 2, 1);
        }
      }
    }
    report("adamw_tensors_compute_copies_" + tag, double(bad), 0);
    // Bytes of dc no copy covers keep their initial -7.0f.
    size_t touched = 0;
    const unsigned char* cb = reinterpret_cast<const unsigned char*>(gc.data());
    const unsigned char* c0b = reinterpret_cast<const unsigned char*>(c0.data());
    for (size_t i = 0; i < written.size(); ++i) touched += !written[i] && cb[i] != c0b[i];
    report("adamw_tensors_compute_outside_untouched_" + tag, double(touched), 0);
    p = gp, m = gm, v = gv;  // the next step continues from here
  }
}

// The batched in-place rotary embedding of the fused qkv (training forward) and its inverse (the
// backward) against the CPU ops, one sequence at a time (positions from 0 in each), over batches
// of uneven sequences with rows outside every sequence (position −1: their NaN input must stay
// NaN), on the 16-byte vector path (hd and rot/2 multiples of 8, aligned buffer) and the
// per-element path (other shapes, a misaligned buffer). v and the dims past the rotated region
// must come back bit for bit. Tolerance 1e-2: bf16 outputs of f32 math (one rounding each).
void check_rotary_qkv_rows() {
  struct Case {
    std::vector<std::pair<int64_t, int64_t>> seqs;  // (begin, n)
    int heads, hd, rot;
    bool misalign = false;  // the qkv buffer one element off 16-byte alignment
  };
  const double base = 10000.0;
  const std::vector<Case> cases = {
      {{{0, 1}}, 2, 64, 64},
      {{{0, 7}, {7, 130}, {137, 3}}, 3, 64, 16},
      {{{0, 130}, {130, 200}}, 2, 128, 32},
      {{{0, 130}}, 4, 80, 80},
      {{{0, 7}, {9, 5}}, 2, 100, 25},  // rows 7, 8 in no sequence; per-element path
      {{{0, 7}}, 2, 64, 0},
      {{{0, 3}}, 1, 1024, 256},
      {{{3, 50}, {60, 50}}, 2, 64, 24},  // rot/2 = 12: per-element path; rows 0-2, 53-59 outside
      {{{0, 3000}, {3000, 17}}, 1, 64, 16},
      {{{0, 40}, {40, 9}}, 3, 64, 16, true},
  };
  for (const Case& c : cases) {
    int64_t rows = 0, longest = 0;
    for (const auto& [b, n] : c.seqs) rows = std::max(rows, b + n), longest = std::max(longest, n);
    const int64_t W = 3 * int64_t(c.heads) * c.hd;  // a fused row
    const size_t n = size_t(rows * W);
    std::vector<int32_t> pos(size_t(rows), -1);
    for (const auto& [b, m] : c.seqs)
      for (int64_t i = 0; i < m; ++i) pos[size_t(b + i)] = int32_t(i);
    // The (cos, sin) table as the CUDA backend builds it (cuda/backend.cu, rope_table()).
    const int half = c.rot / 2;
    std::vector<float> rope(size_t(longest) * size_t(std::max(half, 1)) * 2);
    for (int64_t p = 0; p < longest; ++p)
      for (int i = 0; i < half; ++i) {
        const float inv = 1.0f / std::pow(float(base), float(2 * i) / float(c.rot));
        const float ang = float(p) * inv;
        rope[size_t((p * half + i) * 2)] = float(std::cos(double(ang)));
        rope[size_t((p * half + i) * 2 + 1)] = float(std::sin(double(ang)));
      }
    std::vector<float> fused = round_bf16(randn(g_rng, n));
    for (int64_t r = 0; r < rows; ++r)  // rows outside every sequence: NaN, must stay NaN
      if (pos[size_t(r)] < 0)
        std::fill(fused.begin() + r * W, fused.begin() + (r + 1) * W, std::nanf(""));
    // CPU references, per sequence: the rotation and its inverse (the gradient's backward).
    std::vector<float> ref_fwd = fused, ref_inv = fused;
    std::vector<char> inside(size_t(rows), 0);
    for (const auto& [b, m] : c.seqs) {
      const AttentionShape sh{c.heads, c.heads, c.hd};
      ops::rotary_qkv(ref_fwd.data() + b * W, m, sh, ops::default_rope(c.rot, base), 0);
      ops::rotary_qkv_backward(ref_inv.data() + b * W, m, sh, ops::default_rope(c.rot, base), 0);
      for (int64_t r = 0; r < m; ++r) inside[size_t(b + r)] = 1;
    }
    // Rows inside the sequences against the reference (rel_err; elements the rotation leaves
    // alone bit for bit), the others still NaN.
    auto compare = [&](const std::string& name, const std::vector<float>& out,
                       const std::vector<float>& ref) {
      std::vector<float> o, r;
      size_t touched = 0, copies_changed = 0;
      for (int64_t row = 0; row < rows; ++row)
        for (int64_t e = 0; e < W; ++e) {
          const size_t i = size_t(row * W + e);
          if (!inside[size_t(row)]) {
            touched += !std::isnan(out[i]);
            continue;
          }
          const int64_t t = e % c.hd, part = (e / c.hd) % 3;
          if (part == 2 || t >= 2 * half) {
            copies_changed += std::memcmp(&out[i], &fused[i], 4) != 0;
          } else {
            o.push_back(out[i]);
            r.push_back(round_bf16({ref[i]})[0]);
          }
        }
      report(name, o.empty() ? 0.0 : rel_err(o, r), 1e-2);
      report(name + "_others_bitwise", double(copies_changed), 0);
      report(name + "_outside_untouched", double(touched), 0);
    };
    const std::string tag = str_cat(rows, "x", c.heads, "x", c.hd, "_rot", c.rot, "_seqs",
                                    c.seqs.size(), c.misalign ? "_misaligned" : "");
    const int64_t off = c.misalign ? 1 : 0;
    Dev dfused((n + 1) * 2), dpos(pos.size() * 4 + 4), drope(rope.size() * 4);
    put(dpos.p, pos);
    put_f32(drope.p, rope);
    for (const bool inverse : {false, true}) {
      const std::string name = str_cat("rotary_qkv_rows_", inverse ? "inverse_" : "", tag);
      put_bf16(dfused.bf(off), fused);
      cuda::launch_rotary_qkv_rows(dfused.bf(off), rows, c.heads, c.hd, c.rot, dpos.as<int32_t>(),
                                   drope.as<float>(), inverse, g_stream);
      const std::vector<float> got = get_bf16(dfused.bf(off), n);
      compare(name, got, inverse ? ref_inv : ref_fwd);
      // Deterministic: a second run from the same input gives the same bits.
      put_bf16(dfused.bf(off), fused);
      cuda::launch_rotary_qkv_rows(dfused.bf(off), rows, c.heads, c.hd, c.rot, dpos.as<int32_t>(),
                                   drope.as<float>(), inverse, g_stream);
      const std::vector<float> again = get_bf16(dfused.bf(off), n);
      report(name + "_rerun",
             std::memcmp(again.data(), got.data(), got.size() * 4) == 0 ? 0.0 : 1.0, 0);
    }
  }
}

// Empty sizes return at once (null pointers are never touched).
void check_empty() {
  bool ok = true;
  try {
    cuda::launch_gelu_backward(nullptr, nullptr, nullptr, 0, g_stream);
    cuda::launch_scatter_add_rows(nullptr, nullptr, 0, 8, nullptr, g_stream);
    cuda::launch_embedding_backward(nullptr, 0, nullptr, 8, nullptr, g_stream);
    cuda::launch_cross_entropy(nullptr, 0, 10, nullptr, nullptr, 1.0f, nullptr, nullptr, g_stream);
    cuda::launch_scale_f32(nullptr, 0, 2.0f, g_stream);
    cuda::launch_adamw_tensors(nullptr, nullptr, nullptr, nullptr, nullptr, 0, nullptr, 1, 0.1f,
                               0.95f, 0.05f, 1e-8f, 1e-3f, 1, 1, g_stream);
    cuda::launch_layer_norm_backward(nullptr, 0, 8, nullptr, 1e-5f, nullptr, nullptr, nullptr,
                                     nullptr, nullptr, g_stream);
    cuda::launch_rotary_qkv_rows(nullptr, 0, 2, 64, 64, nullptr, nullptr, false, g_stream);
    sync_stream();
  } catch (const std::exception& e) {
    std::printf("exception: %s\n", e.what());
    ok = false;
  }
  report("empty_sizes", ok ? 0.0 : 1.0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int dev = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
      dev = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: rcc_cuda_train_check [--device N]\n");
      return 2;
    }
  }
  try {
    RCC_CUDA_CHECK(cudaSetDevice(dev));
    cudaDeviceProp prop{};
    RCC_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    std::printf("device %d: %s\n", dev, prop.name);
    RCC_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    check_empty();
    check_gelu_backward();
    check_linear_backward(backend_for("cuda:" + std::to_string(dev)), "");
    check_gelu_backward_bias(backend_for("cuda:" + std::to_string(dev)), "");
    check_bias_backward(backend_for("cuda:" + std::to_string(dev)), "");
    {
      std::unique_ptr<Backend> unfused;
      {
        // RCC_CUDA_FUSED=0, read when a backend is made.
        SettingsScope off([](RuntimeSettings& s) { s.cuda_fused = false; });
        unfused = make_cuda_backend(dev);
      }
      check_gelu_backward_bias(*unfused, "unfused_");
      check_bias_backward(*unfused, "unfused_");
      check_linear_backward(*unfused, "unfused_");
    }
    check_scatter_add_rows();
    check_embedding_backward();
    check_cross_entropy();
    check_sum_squares_scale();
    check_adamw(backend_for("cuda:" + std::to_string(dev)));
    check_adamw_tensors(backend_for("cuda:" + std::to_string(dev)));
    check_layer_norm_backward();
    check_layer_norm_pair();
    check_layer_norm_pair_backward();
    check_rotary_qkv_rows();
    check_cross_entropy_bad_target();
    sync_stream();
    std::printf("SUMMARY %d/%d checks passed\n", g_total - g_fail, g_total);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return g_fail ? 1 : 0;
}
