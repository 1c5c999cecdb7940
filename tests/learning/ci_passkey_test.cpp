// Proof that RCC training learns (the CI learning tests): configs/ci-passkey.json trains a tiny RCC
// model from scratch (H 64, 2 layers, W 32, R 4, a word-level vocabulary) on the CPU — GPT-NeoX,
// and (configs/ci-passkey-qwen3.json, the same recipe) Qwen3-shaped: RMSNorm, SwiGLU, 4 query
// heads over 2 key/value heads, q/k norms — then
// `rcc eval passkey` scores it on held-out examples: contexts of 128–192 tokens (4 to 6 windows),
// 5-digit keys at random depths, 400 examples from a seed the training never used. Requirements:
// accuracy >= 95% and training under 10 minutes of wall time.
//
// This is its own executable and ctest entry (tests/CMakeLists.txt): RUN_SERIAL so that its timing
// is not disturbed by other tests, a long timeout, and only in builds without sanitizers (the same
// code paths run under ASan/UBSan in tests/train_loop_test.cpp on a tiny configuration).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "../test_util.h"

namespace rcc {
namespace {

void train_and_score(const std::string& config_name) {
  test::TempDir tmp;
  const std::string config = std::string(RCC_SOURCE_DIR) + "/configs/" + config_name;
  const auto t0 = std::chrono::steady_clock::now();
  test::RunResult train =
      test::run_rcc({"train", "--config", config, "--out", tmp.path(), "--quiet"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(train.status, 0) << train.err;
  const nlohmann::json summary = nlohmann::json::parse(train.out);
  std::printf("%s training: %.0f s wall, %.0f tokens/s, %.1f GFLOP/s, final loss %.4f\n",
              config_name.c_str(), seconds, summary["tokens_per_s"].get<double>(),
              summary["gflops_per_s"].get<double>(), summary["loss"].get<double>());
  EXPECT_LT(seconds, 600.0) << "training took longer than 10 minutes";

  test::RunResult ev = test::run_rcc({"eval", "passkey", "--model", tmp.file("model"), "--samples",
                                      "400", "--min-tokens", "128", "--max-tokens", "192",
                                      "--digits", "5", "--seed", "31337", "--json"});
  ASSERT_EQ(ev.status, 0) << ev.err;
  const nlohmann::json r = nlohmann::json::parse(ev.out);
  std::printf("held-out passkey accuracy: %.3f (%d/%d)\n", r["accuracy"].get<double>(),
              r["correct"].get<int>(), r["samples"].get<int>());
  EXPECT_EQ(r["samples"].get<int>(), 400);
  EXPECT_EQ(r["settings"]["min_tokens"].get<int>(), 128);
  EXPECT_EQ(r["settings"]["digits"].get<int>(), 5);
  EXPECT_GE(r["accuracy"].get<double>(), 0.95) << ev.out;
}

TEST(TrainLearning, CiPasskeyReaches95Percent) {
  train_and_score("ci-passkey.json");
}

TEST(TrainLearning, CiPasskeyQwen3ShapeReaches95Percent) {
  train_and_score("ci-passkey-qwen3.json");
}

}  // namespace
}  // namespace rcc
