// AdamW, gradient clipping and the learning-rate schedule against formulas evaluated here in double
// (tolerance 1e-6 relative: f32 arithmetic of a few operations per element). The match with
// torch.optim.AdamW itself is checked by tests/train_reference_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train/optimizer.h"
#include "train/schedule.h"

namespace rcc {
namespace {

TEST(TrainOptimizer, AdamWStepsMatchTheFormula) {
  ParamLayout layout;
  layout.add("w", {2, 3});  // decayed (matrix)
  layout.add("b", {3});     // not decayed (vector)
  Tensor p = layout.new_buffer(), g = layout.new_buffer();
  const float p0[] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -0.75f, 1.0f, -2.0f, 0.125f};
  const int64_t idx[] = {0, 1, 2, 3, 4, 5, 16, 17, 18};  // the vector starts at the next 16 floats
  for (int i = 0; i < 9; ++i) p.f32()[idx[i]] = p0[i];
  AdamWConfig c;
  c.beta1 = 0.9, c.beta2 = 0.95, c.eps = 1e-8, c.weight_decay = 0.1;
  AdamW opt(layout, c);
  double P[9], M[9] = {}, Vv[9] = {};
  for (int i = 0; i < 9; ++i) P[i] = p0[i];
  for (int t = 1; t <= 3; ++t) {
    const double lr = 1e-2 * t;
    for (int i = 0; i < 9; ++i) g.f32()[idx[i]] = float(0.1 * (i - 4) + 0.05 * t);
    opt.step(p, g, lr);
    for (int i = 0; i < 9; ++i) {
      const double gi = g.f32()[idx[i]];
      if (i < 6) P[i] *= 1 - lr * c.weight_decay;
      M[i] = c.beta1 * M[i] + (1 - c.beta1) * gi;
      Vv[i] = c.beta2 * Vv[i] + (1 - c.beta2) * gi * gi;
      const double mh = M[i] / (1 - std::pow(c.beta1, t)), vh = Vv[i] / (1 - std::pow(c.beta2, t));
      P[i] -= lr * mh / (std::sqrt(vh) + c.eps);
    }
    for (int i = 0; i < 9; ++i)
      EXPECT_NEAR(p.f32()[idx[i]], P[i], 1e-6 * (1 + std::fabs(P[i]))) << i;
  }
  EXPECT_EQ(opt.t(), 3);
  // Padding between the tensors stays zero.
  for (int64_t i = 6; i < 16; ++i) EXPECT_EQ(p.f32()[i], 0.0f);
}

TEST(TrainOptimizer, ClipGradNorm) {
  ParamLayout layout;
  layout.add("a", {4});
  Tensor g = layout.new_buffer();
  const float v[] = {3, 0, -4, 0};
  for (int i = 0; i < 4; ++i) g.f32()[i] = v[i];
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 10.0), 5.0);  // below the limit: untouched
  EXPECT_EQ(g.f32()[0], 3.0f);
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 1.0), 5.0);
  EXPECT_NEAR(g.f32()[0], 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(g.f32()[2], -4.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(clip_grad_norm(g, 0), 1.0, 1e-6);  // max_norm 0: measure only
}

// The trainer's fused step (clipping folded into the update, compute copies written) gives the
// same bits as clipping the gradients in place and then stepping, and leaves the gradients alone.
TEST(TrainOptimizer, FusedClipStepMatchesClipThenStep) {
  ParamLayout layout;
  layout.add("w", {3, 5});
  layout.add("b", {7});
  Tensor p1 = layout.new_buffer(), p2 = layout.new_buffer(), g = layout.new_buffer();
  for (int64_t i = 0; i < layout.total(); ++i) {
    p1.f32()[i] = p2.f32()[i] = float(std::sin(double(i) * 0.7));
    g.f32()[i] = float(std::cos(double(i) * 1.3)) * 3.0f;
  }
  for (int64_t i = 15; i < 16; ++i) p1.f32()[i] = p2.f32()[i] = g.f32()[i] = 0.0f;  // padding
  for (int64_t i = 23; i < layout.total(); ++i) p1.f32()[i] = p2.f32()[i] = g.f32()[i] = 0.0f;
  AdamWConfig c;
  AdamW a(layout, c), b(layout, c);
  Tensor compute = layout.new_buffer();
  std::vector<void*> targets = {nullptr, compute.f32() + 16};  // the vector's f32 copy only
  for (int t = 0; t < 3; ++t) {
    Tensor clipped = g.to(DType::F32);
    const double norm = clip_grad_norm(clipped, 1.0);
    a.step(p1, clipped, 1e-2);
    const float coef = float(clip_coefficient(norm, 1.0));
    ASSERT_LT(coef, 1.0f);
    const Tensor g_before = g.to(DType::F32);
    b.step(p2.f32(), g.f32(), 1e-2, coef, targets);
    for (int64_t i = 0; i < layout.total(); ++i) {
      ASSERT_EQ(p1.f32()[i], p2.f32()[i]) << "step " << t << " element " << i;
      ASSERT_EQ(g.f32()[i], g_before.f32()[i]) << i;
    }
    for (int64_t i = 16; i < 23; ++i) ASSERT_EQ(compute.f32()[i], p2.f32()[i]) << i;
  }
  EXPECT_EQ(clip_coefficient(0.5, 1.0), 1.0);  // below the limit: exactly 1
  EXPECT_EQ(clip_coefficient(5.0, 0.0), 1.0);  // no clipping
}

TEST(TrainOptimizer, WarmupCosineSchedule) {
  LRSchedule s;
  s.lr = 1e-3, s.min_lr = 1e-4, s.warmup = 10, s.total = 110;
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);              // cosine starts at the peak
  EXPECT_NEAR(s.at(10 + 99 / 2), 5.5e-4, 1e-5);  // about half way (progress 49/99)
  EXPECT_NEAR(s.at(109), 1e-4, 1e-12);           // the floor at the last step
  EXPECT_NEAR(s.at(500), 1e-4, 1e-12);           // and after
  for (int64_t i = 10; i < 109; ++i) EXPECT_GE(s.at(i), s.at(i + 1));
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(s.at(50), 1e-3);
  s.kind = "linear";
  EXPECT_THROW(s.at(50), Error);
}

}  // namespace
}  // namespace rcc
