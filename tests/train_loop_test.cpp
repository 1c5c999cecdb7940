// The training loop: exact resume (N steps straight == k steps, checkpoint, resume, N − k steps,
// bit for bit), checkpoints that reload to identical logits in the inference code, config
// validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "io/safetensors.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "test_util.h"
#include "train/optimizer.h"
#include "train/rcc_step.h"
#include "train/train_state.h"
#include "train/trainable_rcc.h"
#include "train/trainer.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;

// A tiny run: H 16, 2 layers, W 8, R 4, passkeys of 3 digits in 8–24 tokens, 2 micro-batches of 2.
const char* kTinyConfig = R"({
  "model": {"init": "random",
            "config": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "intermediate_size": 32, "rotary_pct": 0.5},
            "rcc": {"window": 8, "ratio": 4, "mode": "aligned", "memory_dtype": "f32"},
            "seed": 3, "init_std": 0.1},
  "tasks": [{"kind": "passkey", "min_tokens": 8, "max_tokens": 24, "digits": 3}],
  "eval": [{"kind": "passkey", "min_tokens": 16, "max_tokens": 24, "digits": 3}],
  "train": {"steps": 6, "batch_size": 2, "grad_accum": 2, "lr": 3e-3, "warmup": 2,
            "weight_decay": 0.1, "clip": 0.5, "seed": 11, "log_every": 1,
            "eval_samples": 3, "checkpoint_every": 4}
})";

std::string file_bytes(const std::string& p) {
  return test::read_file(p);
}

TEST(TrainLoop, ResumeIsExact) {
  test::TempDir tmp;
  const TrainConfig cfg = TrainConfig::parse(kTinyConfig, "tiny");
  TrainOptions a;
  a.out_dir = tmp.file("straight");
  a.quiet = true;
  const TrainSummary sa = train(cfg, a);
  EXPECT_EQ(sa.step, 6);

  TrainOptions b = a;
  b.out_dir = tmp.file("resumed");
  b.stop_after = 3;
  EXPECT_EQ(train(cfg, b).step, 3);
  // A fresh run refuses to overwrite; --resume continues.
  EXPECT_THROW(train(cfg, b), Error);
  b.stop_after = -1;
  b.resume = true;
  const TrainSummary sb = train(cfg, b);
  EXPECT_EQ(sb.step, 6);

  const std::string ma = a.out_dir + "/model/", mb = b.out_dir + "/model/";
  EXPECT_EQ(file_bytes(ma + "model.safetensors"), file_bytes(mb + "model.safetensors"))
      << "weights after 6 steps differ between the straight and the resumed run";
  // The optimizer state, data position and step are the same (the files differ only in the
  // recorded wall-clock time).
  TrainableRCC probe(RCCModel::load(ma));
  const TrainState s1 = load_train_state(ma + "state.rcct", probe.layout());
  const TrainState s2 = load_train_state(mb + "state.rcct", probe.layout());
  EXPECT_EQ(s1.step, 6);
  EXPECT_EQ(s1.adam_t, s2.adam_t);
  EXPECT_EQ(s1.rng, s2.rng);
  EXPECT_EQ(s1.tokens, s2.tokens);
  EXPECT_EQ(s1.m.to_vector(), s2.m.to_vector());
  EXPECT_EQ(s1.v.to_vector(), s2.v.to_vector());
  // The final evaluations agree (answers and accuracy; not their timing).
  auto no_time = [](nlohmann::json j) {
    for (auto& [k, v] : j.items()) v.erase("seconds");
    return j.dump();
  };
  ASSERT_TRUE(sa.eval.contains("passkey"));
  EXPECT_EQ(no_time(sa.eval), no_time(sb.eval));
  // The logs agree step by step on loss, lr and grad norm (not on timings).
  auto losses = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<std::string> out;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("loss"))
        out.push_back(j["loss"].dump() + " " + j["lr"].dump() + " " + j["grad_norm"].dump() + " " +
                      j["task_loss"].dump());
    }
    return out;
  };
  const auto la = losses(a.out_dir + "/log.jsonl"), lb = losses(b.out_dir + "/log.jsonl");
  EXPECT_EQ(la.size(), 6u);
  EXPECT_EQ(la, lb);
  // One task: its per-token loss is the step's loss (both Σ w·CE / Σ w over the same samples).
  {
    std::ifstream in(a.out_dir + "/log.jsonl");
    std::string line;
    int logged = 0;
    while (std::getline(in, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (!j.contains("loss")) continue;
      ASSERT_TRUE(j["task_loss"].contains("0:passkey")) << line;
      EXPECT_NEAR(j["task_loss"]["0:passkey"].get<double>(), j["loss"].get<double>(),
                  1e-9 * j["loss"].get<double>());
      ++logged;
    }
    EXPECT_EQ(logged, 6);
  }
  // The checkpoint directory is a model `rcc ask` loads, with its vocabulary and config.
  for (const char* f : {"config.json", "rcc.json", "vocab.json", "train.json", "state.rcct"})
    EXPECT_TRUE(fs::exists(ma + f)) << f;
  EXPECT_FALSE(fs::exists(a.out_dir + "/model.tmp"));
}

// A crash between the two renames that replace OUT/model (model -> model.old done, model.tmp ->
// model not yet): --resume continues from the newer, complete checkpoint, keeps both until then,
// and ends bit-identical to a straight run.
TEST(TrainLoop, CrashBetweenCheckpointRenamesResumesFromTheNewest) {
  test::TempDir tmp;
  const TrainConfig cfg = TrainConfig::parse(kTinyConfig, "tiny");
  TrainOptions a;
  a.out_dir = tmp.file("straight");
  a.quiet = true;
  train(cfg, a);

  TrainOptions b = a;
  b.out_dir = tmp.file("crashed");
  b.stop_after = 3;
  train(cfg, b);
  fs::copy(b.out_dir + "/model", tmp.file("step3"), fs::copy_options::recursive);
  b.resume = true;
  b.stop_after = 4;
  EXPECT_EQ(train(cfg, b).step, 4);
  // The state a crash between the renames of the step-4 checkpoint leaves.
  fs::rename(b.out_dir + "/model", b.out_dir + "/model.tmp");
  fs::copy(tmp.file("step3"), b.out_dir + "/model.old", fs::copy_options::recursive);
  // The log of steps 1-4 (with their wall-clock timings, which a run started over would not
  // reproduce) must survive as it is: the run continues, it does not start again.
  const std::string log4 = file_bytes(b.out_dir + "/log.jsonl");
  b.stop_after = 4;  // nothing left to do at step 4
  EXPECT_EQ(train(cfg, b).step, 4);
  EXPECT_EQ(file_bytes(b.out_dir + "/log.jsonl").substr(0, log4.size()), log4)
      << "the run started over instead of resuming the recovered step-4 checkpoint";
  EXPECT_FALSE(fs::exists(b.out_dir + "/model.old"));
  EXPECT_FALSE(fs::exists(b.out_dir + "/model.tmp"));
  b.stop_after = -1;
  EXPECT_EQ(train(cfg, b).step, 6);
  EXPECT_EQ(file_bytes(a.out_dir + "/model/model.safetensors"),
            file_bytes(b.out_dir + "/model/model.safetensors"))
      << "weights after 6 steps differ between the straight and the recovered run";
}
TEST(TrainLoop, PassesOfBoundedTokensGiveTheSameUpdate) {
  test::TempDir tmp;
  TrainConfig cfg = TrainConfig::parse(kTinyConfig, "tiny");
  TrainOptions o;
  o.quiet = true;
  o.stop_after = 0;
  o.out_dir = tmp.file("init");
  train(cfg, o);
  o.stop_after = 3;
  o.out_dir = tmp.file("one-pass");
  train(cfg, o);
  cfg.train.max_pass_tokens = 1;  // every sample (8–24 context tokens) in a pass of its own
  o.out_dir = tmp.file("passes");
  train(cfg, o);
  const TrainableRCC w0(RCCModel::load(tmp.file("init") + "/model")),
      a(RCCModel::load(tmp.file("one-pass") + "/model")),
      b(RCCModel::load(tmp.file("passes") + "/model"));
  const std::vector<float> v0 = w0.values().to_vector(), wa = a.values().to_vector(),
                           wb = b.values().to_vector();
  ASSERT_EQ(wa.size(), wb.size());
  // Only the summation order differs (f32 rounding): of the gradients, and of the matrix products
  // themselves (passes of up to 64 rows use the row-independent kernel, ops/linear.h; the one
  // pass uses BLAS). AdamW divides by √v, which magnifies that rounding where a gradient is near
  // zero, so the bound is 2% of the largest change the 3 steps made (not an absolute one;
  // observed 1.2%).
  double err = 0, moved = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    err = std::max(err, std::fabs(double(wa[i]) - wb[i]));
    moved = std::max(moved, std::fabs(double(wa[i]) - v0[i]));
  }
  EXPECT_GT(moved, 1e-3);
  EXPECT_LE(err, 0.02 * moved);
  nlohmann::json j = nlohmann::json::parse(kTinyConfig);
  j["train"]["max_pass_tokens"] = -1;
  EXPECT_THROW(TrainConfig::parse(j.dump(), "bad"), Error);
}

TEST(TrainLoop, TimeLimitStopsWithACheckpoint) {
  test::TempDir tmp;
  const TrainConfig cfg = TrainConfig::parse(kTinyConfig, "tiny");
  TrainOptions o;
  o.out_dir = tmp.file("timed");
  o.quiet = true;
  o.time_limit = 1e-9;  // passed during the first step: stop after it
  const TrainSummary s = train(cfg, o);
  EXPECT_EQ(s.step, 1);
  EXPECT_TRUE(s.eval.empty()) << "no final evaluation before the last step";
  const std::string m = o.out_dir + "/model/";
  TrainableRCC probe(RCCModel::load(m));
  EXPECT_EQ(load_train_state(m + "state.rcct", probe.layout()).step, 1);
  // The stopping step is logged; --resume then runs to the end.
  std::ifstream in(o.out_dir + "/log.jsonl");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(nlohmann::json::parse(line)["step"], 1);
  o.time_limit = 0;
  o.resume = true;
  EXPECT_EQ(train(cfg, o).step, 6);
}

TEST(TrainLoop, SavedCheckpointReloadsToIdenticalLogits) {
  const TrainConfig cfg = TrainConfig::parse(kTinyConfig, "tiny");
  test::TempDir tmp;
  TrainOptions o;
  o.out_dir = tmp.path();
  o.quiet = true;
  o.stop_after = 2;
  train(cfg, o);
  // Train two more steps in memory, save as `rcc ask` expects, reload, compare the inference path.
  TrainableRCC tm(RCCModel::load(tmp.file("model")));
  AdamW adam(tm.layout(), {});
  Sample s;
  s.context = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  s.tokens = {3, 4, 5, 6};
  s.weights = {1, 1, 1, 1};
  for (int i = 0; i < 2; ++i) {
    tm.zero_grad();
    rcc_forward_backward(tm, {&s, 1}, {});
    adam.step(tm.values(), tm.gradients(), 1e-2);
  }
  tm.refresh_fingerprint();
  tm.model().save(tmp.file("saved"), DType::F32);
  const RCCModel loaded = RCCModel::load(tmp.file("saved"));
  EXPECT_EQ(loaded.encoder_fingerprint, tm.model().encoder_fingerprint);
  auto logits = [&](const RCCModel& m) {
    Compressor comp(m);
    Memory mem = comp.compress(s.context, WindowMode::Aligned, DType::F32);
    DecoderMemory dm(m);
    dm.extend(mem, 0, mem.slots());
    return dm.prompt_logits(s.tokens);
  };
  const std::vector<float> a = logits(tm.model()), b = logits(loaded);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "logits differ after reload";
  // The training forward computes the same logits as the inference path (within f32 rounding of
  // different summation blocks).
  std::vector<float> train_logits;
  StepOptions so;
  so.backward = false;
  so.all_logits = &train_logits;
  rcc_forward_backward(tm, {&s, 1}, so);
  const int64_t V = tm.model().decoder.config().vocab_size;
  const std::vector<float> tail(train_logits.end() - int64_t(s.tokens.size()) * V,
                                train_logits.end());
  EXPECT_LE(test::max_rel_error(tail, a, 1.0), 1e-5);
}

TEST(TrainLoop, ConfigErrorsNameTheField) {
  auto parse_with = [](const std::string& patch) {
    nlohmann::json j = nlohmann::json::parse(kTinyConfig);
    j.merge_patch(nlohmann::json::parse(patch));
    return TrainConfig::parse(j.dump(), "cfg.json");
  };
  EXPECT_NO_THROW(parse_with("{}"));
  auto message = [&](const std::string& patch) {
    try {
      parse_with(patch);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"train": {"stpes": 5}})").find("unknown field 'stpes'"), std::string::npos);
  EXPECT_NE(message(R"({"train": {"lr": "high"}})").find("'lr' must be a number"),
            std::string::npos);
  EXPECT_NE(message(R"({"model": {"init": "magic"}})").find("init must be"), std::string::npos);
  EXPECT_NE(message(R"({"tasks": [{"kind": "chess"}]})").find("unknown task kind 'chess'"),
            std::string::npos);
  EXPECT_NE(message(R"({"tasks": [{"kind": "passkey", "digits": 40}]})").find("'digits'"),
            std::string::npos);
  EXPECT_NE(message(R"({"tasks": []})").find("non-empty array"), std::string::npos);
}

}  // namespace
}  // namespace rcc
