// rcc_cuda_train_check, part two: the layer-norm backward kernels (one norm, and the
// parallel-residual pair's forward and backward) against the CPU ops of src/ops/norm.h, with the
// tolerances listed in train_ops_check.cu.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "check_util.h"
#include "core/error.h"
#include "cuda/train_kernels.h"
#include "ops/norm.h"
#include "train_check_io.h"

namespace rcc::gpu_check {

using cuda::bf16;

void check_layer_norm_backward() {
  struct Case {
    int64_t rows, H;
    bool with_dx, with_db;
  };
  for (const Case& c :
       {Case{1, 64, true, true}, Case{7, 100, true, true}, Case{130, 768, true, true},
        Case{130, 768, true, false}, Case{130, 100, false, true}, Case{1000, 64, true, true},
        Case{5000, 768, true, true}, Case{3, 2051, true, true}}) {
    const size_t n = size_t(c.rows * c.H);
    std::vector<float> x = round_bf16(randn(g_rng, n, 2.0f, 0.5f));
    std::vector<float> dy = round_bf16(randn(g_rng, n));
    std::vector<float> w = randn(g_rng, size_t(c.H), 0.2f, 1.0f);
    std::vector<float> dx0 = round_bf16(randn(g_rng, n, 0.5f));
    std::vector<float> dw0 = randn(g_rng, size_t(c.H)), db0 = randn(g_rng, size_t(c.H));
    const float eps = 1e-5f;
    std::vector<float> rdx = dx0, rdw = dw0, rdb = db0;
    ops::layer_norm_backward(x.data(), c.rows, c.H, w.data(), eps, dy.data(),
                             c.with_dx ? rdx.data() : nullptr, rdw.data(),
                             c.with_db ? rdb.data() : nullptr);
    Dev dx_(n * 2), ddy(n * 2), dw_(size_t(c.H) * 4), ddx(n * 2), ddw(size_t(c.H) * 4),
        ddb(size_t(c.H) * 4), ws(cuda::layer_norm_backward_workspace(c.rows, c.H));
    put_bf16(dx_.p, x);
    put_bf16(ddy.p, dy);
    put_f32(dw_.p, w);
    put_bf16(ddx.p, dx0);
    put_f32(ddw.p, dw0);
    put_f32(ddb.p, db0);
    ws.poison(g_stream);
    auto run = [&] {
      cuda::launch_layer_norm_backward(dx_.bf(), c.rows, c.H, dw_.as<float>(), eps, ddy.bf(),
                                       c.with_dx ? ddx.bf() : nullptr, ddw.as<float>(),
                                       c.with_db ? ddb.as<float>() : nullptr, ws.p, g_stream);
    };
    run();
    const std::string tag =
        str_cat(c.rows, "x", c.H, c.with_dx ? "" : "_nodx", c.with_db ? "" : "_nodb");
    const std::vector<float> gdx = get_bf16(ddx.p, n), gdw = get_f32(ddw.p, size_t(c.H)),
                             gdb = get_f32(ddb.p, size_t(c.H));
    if (c.with_dx) {
      report("layer_norm_backward_dx_" + tag, rel_err(gdx, rdx), 1e-2);
      // The increment alone (dx − dx0), which the accumulator could hide.
      report("layer_norm_backward_dx_increment_" + tag, increment_err(gdx, rdx, dx0), 1e-2);
    } else {
      report("layer_norm_backward_dx_untouched_" + tag, mismatch(gdx, dx0), 0);
    }
    report("layer_norm_backward_dw_" + tag, rel_err(gdw, rdw), 1e-3);
    report("layer_norm_backward_db_" + tag, rel_err(gdb, rdb), c.with_db ? 1e-3 : 0);
    // Determinism: again from the same accumulators, bit for bit.
    put_bf16(ddx.p, dx0);
    put_f32(ddw.p, dw0);
    put_f32(ddb.p, db0);
    run();
    std::vector<float> again = get_bf16(ddx.p, n), ref_all = gdx;
    const std::vector<float> w2 = get_f32(ddw.p, size_t(c.H)), b2 = get_f32(ddb.p, size_t(c.H));
    again.insert(again.end(), w2.begin(), w2.end());
    again.insert(again.end(), b2.begin(), b2.end());
    ref_all.insert(ref_all.end(), gdw.begin(), gdw.end());
    ref_all.insert(ref_all.end(), gdb.begin(), gdb.end());
    report("layer_norm_backward_deterministic_" + tag, mismatch(again, ref_all), 0);
  }
}

// The parallel-residual pair of layer norms (launch_layer_norm_pair: two norms and a copy of x
// from one read) against the CPU's ops::layer_norm of the same bf16-rounded x; the copy must be x
// bit for bit, and each output must equal launch_layer_norm's (the single-norm path of the same
// kernel, which inference uses) bit for bit. "_offset": buffers one element off 16-byte alignment
// (the scalar path).
void check_layer_norm_pair() {
  struct Case {
    int64_t rows, H;
    int64_t off;
  };
  for (const Case& c : {Case{1, 64, 0}, Case{7, 100, 0}, Case{130, 768, 0}, Case{130, 768, 1},
                        Case{5000, 768, 0}, Case{3, 2051, 0}, Case{9, 2048, 0}}) {
    const size_t n = size_t(c.rows * c.H);
    const std::vector<float> x = round_bf16(randn(g_rng, n, 2.0f, 0.5f));
    const std::vector<float> w1 = randn(g_rng, size_t(c.H), 0.2f, 1.0f),
                             b1 = randn(g_rng, size_t(c.H), 0.1f),
                             w2 = randn(g_rng, size_t(c.H), 0.2f, 1.0f),
                             b2 = randn(g_rng, size_t(c.H), 0.1f);
    const float eps = 1e-5f;
    std::vector<float> r1(n), r2(n);
    ops::layer_norm(x.data(), c.rows, c.H, w1.data(), b1.data(), eps, r1.data());
    ops::layer_norm(x.data(), c.rows, c.H, w2.data(), b2.data(), eps, r2.data());
    const int64_t o = c.off;
    Dev dx(2 * (n + 1)), dy1(2 * (n + 1)), dy2(2 * (n + 1)), dcopy(2 * (n + 1)),
        dsingle(2 * (n + 1)), dw1(size_t(c.H) * 4), db1(size_t(c.H) * 4), dw2(size_t(c.H) * 4),
        db2(size_t(c.H) * 4);
    put_bf16(dx.bf(o), x);
    put_f32(dw1.p, w1);
    put_f32(db1.p, b1);
    put_f32(dw2.p, w2);
    put_f32(db2.p, b2);
    for (Dev* d : {&dy1, &dy2, &dcopy, &dsingle}) d->poison(g_stream);
    cuda::launch_layer_norm_pair(dx.bf(o), c.rows, c.H, dw1.as<float>(), db1.as<float>(),
                                 dw2.as<float>(), db2.as<float>(), eps, dy1.bf(o), dy2.bf(o),
                                 dcopy.bf(o), g_stream);
    const std::string tag = str_cat(c.rows, "x", c.H, o ? "_offset" : "");
    const std::vector<float> g1 = get_bf16(dy1.bf(o), n), g2 = get_bf16(dy2.bf(o), n);
    report("layer_norm_pair_y1_" + tag, rel_err(g1, r1), 1e-2);
    report("layer_norm_pair_y2_" + tag, rel_err(g2, r2), 1e-2);
    report("layer_norm_pair_copy_" + tag, mismatch(get_bf16(dcopy.bf(o), n), x), 0);
    cuda::launch_layer_norm(dx.bf(o), c.rows, c.H, dw2.as<float>(), db2.as<float>(), eps,
                            dsingle.bf(o), g_stream);
    report("layer_norm_pair_equals_single_" + tag, mismatch(get_bf16(dsingle.bf(o), n), g2), 0);
  }
}

// The pair's backward (launch_layer_norm_pair_backward: x, the statistics and dx read once) against
// the CPU's two ops::layer_norm_backward calls (ln2's term, then ln1's) on the same bf16-rounded
// inputs, dx and the four gradient sums accumulated onto random values; db null in one case.
// Tolerances as check_layer_norm_backward.
void check_layer_norm_pair_backward() {
  struct Case {
    int64_t rows, H;
    bool with_db;
  };
  for (const Case& c :
       {Case{1, 64, true}, Case{7, 100, true}, Case{130, 768, true}, Case{130, 768, false},
        Case{1000, 64, true}, Case{5000, 768, true}, Case{3, 2051, true}}) {
    const size_t n = size_t(c.rows * c.H), h = size_t(c.H);
    const std::vector<float> x = round_bf16(randn(g_rng, n, 2.0f, 0.5f));
    const std::vector<float> dy1 = round_bf16(randn(g_rng, n)), dy2 = round_bf16(randn(g_rng, n));
    const std::vector<float> w1 = randn(g_rng, h, 0.2f, 1.0f), w2 = randn(g_rng, h, 0.2f, 1.0f);
    const std::vector<float> dx0 = round_bf16(randn(g_rng, n, 0.5f));
    const std::vector<float> dw10 = randn(g_rng, h), db10 = randn(g_rng, h), dw20 = randn(g_rng, h),
                             db20 = randn(g_rng, h);
    const float eps = 1e-5f;
    std::vector<float> rdx = dx0, rdw1 = dw10, rdb1 = db10, rdw2 = dw20, rdb2 = db20;
    ops::layer_norm_backward(x.data(), c.rows, c.H, w2.data(), eps, dy2.data(), rdx.data(),
                             rdw2.data(), c.with_db ? rdb2.data() : nullptr);
    ops::layer_norm_backward(x.data(), c.rows, c.H, w1.data(), eps, dy1.data(), rdx.data(),
                             rdw1.data(), c.with_db ? rdb1.data() : nullptr);
    Dev dx(n * 2), ddy1(n * 2), ddy2(n * 2), dwt1(h * 4), dwt2(h * 4), ddx(n * 2), ddw1(h * 4),
        ddb1(h * 4), ddw2(h * 4), ddb2(h * 4),
        ws(cuda::layer_norm_backward_workspace(c.rows, c.H, 2));
    put_bf16(dx.p, x);
    put_bf16(ddy1.p, dy1);
    put_bf16(ddy2.p, dy2);
    put_f32(dwt1.p, w1);
    put_f32(dwt2.p, w2);
    auto reset = [&] {
      put_bf16(ddx.p, dx0);
      put_f32(ddw1.p, dw10);
      put_f32(ddb1.p, db10);
      put_f32(ddw2.p, dw20);
      put_f32(ddb2.p, db20);
    };
    reset();
    ws.poison(g_stream);
    auto run = [&] {
      cuda::launch_layer_norm_pair_backward(
          dx.bf(), c.rows, c.H, dwt1.as<float>(), dwt2.as<float>(), eps, ddy1.bf(), ddy2.bf(),
          ddx.bf(), ddw1.as<float>(), c.with_db ? ddb1.as<float>() : nullptr, ddw2.as<float>(),
          c.with_db ? ddb2.as<float>() : nullptr, ws.p, g_stream);
    };
    run();
    const std::string tag = str_cat(c.rows, "x", c.H, c.with_db ? "" : "_nodb");
    std::vector<float> got = get_bf16(ddx.p, n);
    report("layer_norm_pair_backward_dx_" + tag, rel_err(got, rdx), 1e-2);
    report("layer_norm_pair_backward_dx_increment_" + tag, increment_err(got, rdx, dx0), 1e-2);
    const std::vector<float> g[4] = {get_f32(ddw1.p, h), get_f32(ddb1.p, h), get_f32(ddw2.p, h),
                                     get_f32(ddb2.p, h)};
    report("layer_norm_pair_backward_dw1_" + tag, rel_err(g[0], rdw1), 1e-3);
    report("layer_norm_pair_backward_db1_" + tag, rel_err(g[1], rdb1), c.with_db ? 1e-3 : 0);
    report("layer_norm_pair_backward_dw2_" + tag, rel_err(g[2], rdw2), 1e-3);
    report("layer_norm_pair_backward_db2_" + tag, rel_err(g[3], rdb2), c.with_db ? 1e-3 : 0);
    // Determinism: again from the same accumulators, bit for bit.
    reset();
    run();
    std::vector<float> again = get_bf16(ddx.p, n);
    for (Dev* d : {&ddw1, &ddb1, &ddw2, &ddb2}) {
      const std::vector<float> v = get_f32(d->p, h);
      again.insert(again.end(), v.begin(), v.end());
    }
    for (const std::vector<float>& v : g) got.insert(got.end(), v.begin(), v.end());
    report("layer_norm_pair_backward_deterministic_" + tag, mismatch(again, got), 0);
  }
}

}  // namespace rcc::gpu_check
