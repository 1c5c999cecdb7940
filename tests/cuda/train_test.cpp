// CUDA training against the CPU trainer and against PyTorch (tests/fixtures/train, made by
// tests/reference/make_training_fixtures.py). Built only with CUDA and run on a GPU by
// scripts/gpu-check.sh (not a ctest: CI has no GPU).
//
// Tolerances. The CPU trainer is f32 and matches PyTorch to ~1e-6 (tests/train_reference_test.cpp).
// CUDA computes in bf16 (weights rounded once per step from the f32 masters, every activation and
// activation gradient rounded after each op: 2^-9 = 0.2% relative per rounding) with f32
// accumulation and f32 weight gradients. Through the two networks of an RCC model a gradient
// passes ~10 roundings per layer, so per-tensor errors land around 0.5–2% of the tensor's norm;
// we allow kGradTol = 5e-2 (‖cuda − ref‖₂ / ‖ref‖₂ per tensor). A wrong index, transpose, mask or
// missing term gives errors of order 1. Losses: relative 1e-2 (the loss averages many rows, its
// bf16 noise is far below a single element's). Training curves: bf16 noise changes the
// trajectory slowly, so 100 AdamW steps are compared per window of 10 steps (mean loss within
// 5% + 0.02 nats: near zero loss a relative bound alone is noise) and both must have learned
// (final window below half the first).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "../test_util.h"
#include "backend/backend.h"
#include "io/safetensors.h"
#include "rcc/rcc_init.h"
#include "rcc/rcc_model.h"
#include "train/optimizer.h"
#include "train/rcc_step.h"
#include "train/trainable_rcc.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;
constexpr double kGradTol = 5e-2;

Backend& cuda() {
  return backend_for("cuda");
}

double norm_rel(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * b[i];
  }
  if (!std::isfinite(num)) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double total_weight(const std::vector<Sample>& batch) {
  double w = 0;
  for (const Sample& s : batch) w += s.target_weight();
  return w;
}

// Per-tensor comparison of two gradient buffers of one layout; returns the worst error.
double compare_gradients(const ParamLayout& layout, const Tensor& got, const Tensor& want,
                         const std::string& what) {
  double worst = 0;
  std::string worst_name;
  for (const ParamEntry& e : layout.entries()) {
    const double err = norm_rel(got.f32() + e.offset, want.f32() + e.offset, e.numel);
    EXPECT_LE(err, kGradTol) << what << ": gradient of " << e.name;
    if (!(err <= worst)) worst = err, worst_name = e.name;
  }
  std::printf("[ cuda ] %s: worst per-tensor gradient error %.2e (%s)\n", what.c_str(), worst,
              worst_name.c_str());
  return worst;
}

std::vector<int32_t> ints(const Tensor& t) {
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

TEST(CudaTrain, GradientsMatchPyTorchFixture) {
  const std::string dir = test::fixture("train");
  ASSERT_TRUE(fs::exists(dir + "/expected.safetensors")) << dir;
  const RCCModel init = RCCModel::load(dir + "/tiny-rcc");
  SafetensorsFile expected = SafetensorsFile::open(dir + "/expected.safetensors");
  std::vector<Sample> batch;
  for (int b = 0;; ++b) {
    const std::string p = "sample" + std::to_string(b) + ".";
    if (!expected.contains(p + "tokens")) break;
    Sample s;
    s.context = ints(expected.get(p + "context"));
    s.tokens = ints(expected.get(p + "tokens"));
    s.weights = expected.get(p + "weights").to_vector();
    batch.push_back(std::move(s));
  }
  ASSERT_EQ(batch.size(), 3u);
  TrainableRCC tm(init, cuda());
  tm.zero_grad();
  StepOptions o;
  o.loss_scale = float(1.0 / total_weight(batch));
  const StepStats st = rcc_forward_backward(tm, batch, o);
  const double loss = expected.get("loss").data<double>()[0];
  EXPECT_NEAR(st.loss_sum / st.target_weight, loss, 1e-2 * loss);
  Tensor want = tm.layout().new_buffer();
  for (size_t i = 0; i < tm.layout().entries().size(); ++i) {
    const ParamEntry& e = tm.layout().entries()[i];
    const std::vector<float> g = expected.get("grad." + e.name).to_vector();
    ASSERT_EQ(int64_t(g.size()), e.numel) << e.name;
    std::copy(g.begin(), g.end(), want.f32() + e.offset);
  }
  compare_gradients(tm.layout(), tm.gradients(), want, "PyTorch fixture (hd 8)");
}

// A random RCC model with head_dim 64 (the tensor-core attention backward) and several windows.
// `family`: "" GPT-NeoX; "qwen3" (4 query heads over 2 key/value heads, q/k norms, SwiGLU);
// "llama" (2 query heads over 1, head_dim 128, q/k/v and MLP biases, Llama 3 rotary scaling).
RCCModel random_model(int64_t H, int64_t heads, bool parallel, uint64_t seed,
                      const std::string& family = "") {
  ModelConfig c;
  c.vocab_size = 131;
  c.hidden_size = H;
  c.num_layers = 2;
  c.num_heads = heads;
  c.intermediate_size = 4 * H;
  c.rotary_pct = 0.25;
  c.use_parallel_residual = parallel;
  if (!family.empty()) {
    c.model_type = family;
    c.rms_norm = c.gated_mlp = true;
    c.use_parallel_residual = false;
    c.rotary_pct = 1.0;
    c.norm_eps = 1e-6;
    c.intermediate_size = 2 * H;
    c.qkv_bias = c.out_bias = c.mlp_bias = family == "llama";
    c.qk_norm = family == "qwen3";
    c.num_kv_heads = heads / 2;
    if (family == "llama") {
      c.rope_scaling.type = RopeScaling::Type::Llama3;
      c.rope_scaling.factor = 8;
      c.rope_scaling.original_max_position_embeddings = 64;
    }
  }
  RCCSettings s;
  s.window = 64;
  s.ratio = 8;
  s.mode = WindowMode::Aligned;
  s.memory_dtype = DType::F32;
  return init_random_rcc(c, s, DType::F32, seed);
}

std::vector<int32_t> random_ids(size_t n, int64_t V, std::mt19937& rng) {
  std::vector<int32_t> v(n);
  for (auto& x : v) x = int32_t(rng() % uint32_t(V));
  return v;
}

// Reconstruction samples: the decoder re-emits the context from the memory.
std::vector<Sample> reconstruction_batch(int64_t V, size_t samples, size_t len, std::mt19937& rng) {
  std::vector<Sample> b(samples);
  for (Sample& s : b) {
    s.context = random_ids(len, V, rng);
    s.tokens = s.context;
    s.weights.assign(s.tokens.size(), 1.0f);
  }
  return b;
}

TEST(CudaTrain, GradientsMatchCpuTrainer) {
  for (auto [H, heads, parallel, family] :
       {std::tuple{128, 2, true, ""}, std::tuple{256, 2, false, ""},
        std::tuple{256, 4, false, "qwen3"}, std::tuple{256, 2, false, "llama"}}) {
    SCOPED_TRACE(::testing::Message() << "H " << H << " heads " << heads << " " << family);
    const RCCModel init = random_model(H, heads, parallel, 11, family);
    std::mt19937 rng(3);
    std::vector<Sample> batch = reconstruction_batch(init.decoder.config().vocab_size, 3, 150, rng);
    batch.push_back(Sample{{}, random_ids(40, 131, rng), std::vector<float>(40, 1.0f)});
    batch.back().weights[0] = 0;  // plain LM sample: token 0 has no predecessor
    StepOptions o;
    o.loss_scale = float(1.0 / total_weight(batch));
    TrainableRCC cpu(init), gpu(init, cuda());
    cpu.zero_grad();
    gpu.zero_grad();
    const StepStats a = rcc_forward_backward(cpu, batch, o);
    const StepStats b = rcc_forward_backward(gpu, batch, o);
    EXPECT_NEAR(b.loss_sum, a.loss_sum, 1e-2 * a.loss_sum);
    compare_gradients(cpu.layout(), gpu.gradients(), cpu.gradients(),
                      std::string("CPU trainer, ") + (*family ? family : "gpt_neox") + " H " +
                          std::to_string(H) + " hd " + std::to_string(H / heads));
  }
}

// Learnable quickly: the context counts up from a random start (mod V) and the decoder continues
// the count, from the memory for its first token and from its own prefix after that.
std::vector<Sample> counting_batch(int64_t V, size_t samples, std::mt19937& rng) {
  std::vector<Sample> b(samples);
  for (Sample& s : b) {
    const int64_t start = int64_t(rng() % uint32_t(V));
    for (int64_t i = 0; i < 96; ++i) s.context.push_back(int32_t((start + i) % V));
    for (int64_t i = 96; i < 128; ++i) s.tokens.push_back(int32_t((start + i) % V));
    s.weights.assign(s.tokens.size(), 1.0f);
  }
  return b;
}

// 100 AdamW steps of the same run on both backends (same batches, clipping, decay). The weights
// themselves are not compared: AdamW divides each gradient by its running RMS, so parameters whose
// gradients are tiny (noise-dominated) take full-size steps in directions that bf16 noise decides;
// the loss, which those parameters barely move, is the meaningful comparison.
TEST(CudaTrain, HundredStepsTrackTheCpuLossCurve) {
  const RCCModel init = random_model(128, 2, true, 5);
  TrainableRCC cpu(init), gpu(init, cuda());
  AdamWConfig ac;
  ac.weight_decay = 0.01;
  AdamW opt_cpu(cpu.layout(), ac), opt_gpu(gpu.layout(), ac, cuda());
  std::mt19937 rng(9);
  std::vector<double> lc, lg;
  for (int step = 0; step < 100; ++step) {
    const std::vector<Sample> batch = counting_batch(131, 4, rng);
    StepOptions o;
    o.loss_scale = float(1.0 / total_weight(batch));
    for (TrainableRCC* tm : {&cpu, &gpu}) {
      tm->zero_grad();
      const StepStats st = rcc_forward_backward(*tm, batch, o);
      (tm == &cpu ? lc : lg).push_back(st.loss_sum / st.target_weight);
      // As the trainer steps: clipping folded into the one-pass update, which also writes the
      // compute copy the next forward uses (none on the CPU).
      const double norm = grad_norm(tm->backend(), tm->gradient_data(), tm->layout().total());
      (tm == &cpu ? opt_cpu : opt_gpu)
          .step(tm->master(), tm->gradient_data(), 3e-3, float(clip_coefficient(norm, 1.0)),
                tm->compute_targets());
    }
  }
  auto window = [](const std::vector<double>& v, int w) {
    double s = 0;
    for (int i = 10 * w; i < 10 * w + 10; ++i) s += v[size_t(i)];
    return s / 10;
  };
  for (int w = 0; w < 10; ++w) {
    const double c = window(lc, w), g = window(lg, w);
    EXPECT_NEAR(g, c, 5e-2 * c + 2e-2) << "steps " << 10 * w << ".." << 10 * w + 9;
    std::printf("[ cuda ] steps %3d-%3d mean loss cpu %.4f cuda %.4f\n", 10 * w, 10 * w + 9, c, g);
  }
  EXPECT_LT(window(lc, 9), 0.5 * window(lc, 0));
  EXPECT_LT(window(lg, 9), 0.5 * window(lg, 0));
}

// `rcc train --device cuda` end to end: trains, checkpoints, resumes, and the model loads.
TEST(CudaTrain, CliTrainsAndResumesOnTheGpu) {
  test::TempDir tmp;
  // configs/ of the source tree the fixtures are in (RCC_FIXTURES_DIR: a copied tree on a GPU
  // host).
  const std::string cfg = test::fixture("../../configs/ci-passkey.json");
  const std::string out = tmp.file("run");
  auto r = test::run_rcc({"train", "--config", cfg, "--out", out, "--device", "cuda",
                          "--stop-after", "20", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["step"].get<int64_t>(), 20);
  EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
  r = test::run_rcc({"train", "--config", cfg, "--out", out, "--device", "cuda", "--stop-after",
                     "30", "--resume", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["step"].get<int64_t>(), 30);
  const RCCModel m = RCCModel::load(out + "/model");
  EXPECT_GT(m.decoder.config().num_layers, 0);
}

}  // namespace
}  // namespace rcc
