// rcc train, rcc eval and rcc data end to end through the CLI (tiny sizes).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace rcc {
namespace {

using nlohmann::json;

const char* kTiny = R"({
  "model": {"init": "random",
            "config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "intermediate_size": 32},
            "rcc": {"window": 8, "ratio": 4, "mode": "aligned", "memory_dtype": "f32"}},
  "tasks": [{"kind": "passkey", "min_tokens": 8, "max_tokens": 20, "digits": 3},
            {"kind": "facts", "weight": 0.5, "facts": 2, "min_tokens": 20, "max_tokens": 30},
            {"kind": "babi", "weight": 0.5, "min_tokens": 20, "max_tokens": 30}],
  "train": {"steps": 4, "batch_size": 2, "lr": 1e-3, "log_every": 2, "eval_samples": 2}
})";

TEST(TrainCli, TrainEvalAndData) {
  test::TempDir tmp;
  test::write_file(tmp.file("tiny.json"), kTiny);
  test::RunResult r = test::run_rcc(
      {"train", "--config", tmp.file("tiny.json"), "--out", tmp.file("run"), "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");  // --quiet
  const json summary = json::parse(r.out);
  EXPECT_EQ(summary["step"], 4);
  EXPECT_TRUE(summary["eval"].contains("passkey"));
  EXPECT_TRUE(summary["eval"].contains("facts"));
  EXPECT_TRUE(summary["eval"].contains("babi"));
  const std::string model = tmp.file("run/model");

  // A second run into the same directory needs --resume; resuming a finished run does nothing.
  r = test::run_rcc({"train", "--config", tmp.file("tiny.json"), "--out", tmp.file("run")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  r = test::run_rcc({"train", "--config", tmp.file("tiny.json"), "--out", tmp.file("run"),
                     "--resume", "--quiet"});
  EXPECT_EQ(r.status, 0) << r.err;

  for (const char* task : {"passkey", "facts", "babi"}) {
    r = test::run_rcc({"eval", task, "--model", model, "--samples", "3", "--json"});
    ASSERT_EQ(r.status, 0) << task << ": " << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["samples"], 3) << task;
    EXPECT_TRUE(j.contains("accuracy")) << task;
    EXPECT_EQ(j.contains("f1"), std::string(task) != "passkey") << task;
  }
  // Settings default to the training task's and can be overridden.
  r = test::run_rcc({"eval", "passkey", "--model", model, "--samples", "2", "--digits", "4",
                     "--min-tokens", "30", "--max-tokens", "40", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["settings"]["digits"], 4);
  EXPECT_EQ(json::parse(r.out)["settings"]["min_tokens"], 30);
  r = test::run_rcc({"eval", "passkey", "--model", model, "--samples", "2"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("passkey: accuracy"), std::string::npos);

  // qa over {input, prompt, answer} rows with the word vocabulary (mostly unknown words: a smoke
  // test of the plumbing and the metrics' presence).
  test::write_file(tmp.file("qa.jsonl"),
                   "{\"input\": \"The cat sat on the sofa.\", \"prompt\": \"Where does the cat "
                   "sit?\", \"answer\": \"The cat sits on the sofa.\"}\n");
  r = test::run_rcc({"eval", "qa", "--model", model, "--data", tmp.file("qa.jsonl"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["samples"], 1);
  EXPECT_TRUE(json::parse(r.out).contains("rouge_l"));

  // Usage errors.
  EXPECT_EQ(test::run_rcc({"eval", "--model", model}).status, 2);
  EXPECT_EQ(test::run_rcc({"eval", "chess", "--model", model}).status, 2);
  EXPECT_EQ(test::run_rcc({"eval", "qa", "--model", model}).status, 2);
  EXPECT_EQ(test::run_rcc({"train"}).status, 2);
  for (const char* bad : {"0", "-5", "soon", "nan"}) {
    r = test::run_rcc(
        {"train", "--config", tmp.file("tiny.json"), "--out", tmp.file("t"), "--time-limit", bad});
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("--time-limit"), std::string::npos) << r.err;
  }

  // Data: tokenize with the model's word vocabulary, inspect the shard.
  test::write_file(tmp.file("a.txt"), "The pass key is 123.\n\nRemember it.\n");
  r = test::run_rcc({"data", "tokenize", "--vocab", model + "/vocab.json", "--split", "paragraph",
                     "--out", tmp.file("shards/a"), tmp.file("a.txt")});
  ASSERT_EQ(r.status, 0) << r.err;
  const json tok = json::parse(r.out);
  EXPECT_EQ(tok["documents"], 2);
  EXPECT_EQ(tok["tokens"], 8 + 1 + 3 + 1);  // The pass key is 1 2 3 . <eos> Remember it . <eos>
  r = test::run_rcc({"data", "info", tmp.file("shards/a-00000.rcctok"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tokens"], 13);
  EXPECT_EQ(json::parse(r.out)["dtype"], "u16");
  EXPECT_EQ(test::run_rcc({"data", "tokenize", "--out", tmp.file("x"), tmp.file("a.txt")}).status,
            2);
  EXPECT_EQ(test::run_rcc({"data", "frobnicate"}).status, 2);

  // A config error names the field, exit status 1.
  json bad = json::parse(kTiny);
  bad["train"]["stepz"] = 3;
  test::write_file(tmp.file("bad.json"), bad.dump());
  r = test::run_rcc({"train", "--config", tmp.file("bad.json"), "--out", tmp.file("bad")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown field 'stepz'"), std::string::npos) << r.err;
}

// Device and data-parallel flags: usage errors exit 2; a run that cannot get its devices (no GPU
// here, or a build without CUDA) exits 1 with one error and leaves no model behind.
TEST(TrainCli, DeviceAndGpusErrors) {
  test::TempDir tmp;
  test::write_file(tmp.file("tiny.json"), kTiny);
  const std::string cfg = tmp.file("tiny.json"), out = tmp.file("run");
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--config", cfg, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_rcc(args);
  };
  EXPECT_EQ(run({"--gpus", "2", "--device", "cuda"}).status, 2);
  EXPECT_EQ(run({"--gpus", "0"}).status, 2);
  EXPECT_EQ(run({"--device", "tpu"}).status, 2);
  test::RunResult r = run({"--gpus", "2", "--quiet"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out + "/model"));
  r = run({"--rank", "1", "--world", "2", "--nccl-id", "zz"});
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(std::filesystem::exists(out + "/model"));
}

}  // namespace
}  // namespace rcc
