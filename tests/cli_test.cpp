// The rcc command line (tools/): dispatch, `rcc info`, `rcc generate`, and its error contract:
// usage errors exit 2, other errors exit 1, never a crash (status < 128), stderr is one line
// starting with "error:", stdout carries nothing on failure and exactly one JSON object with
// --json.
//
// No numeric tolerances: generated ids must equal the Hugging Face greedy ids of the fixture
// exactly (the fixture records a top-2 logit margin of at least 1e-2 at every step, far above f32
// noise).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.h"
#include "test_util.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run_rcc;
using test::RunResult;

const std::string kModel = test::fixture("gptneox/parallel-f32");

json expected() {
  return json::parse(test::read_file(kModel + "/expected.json"));
}

std::string id_list(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::string prompt_ids() {
  return id_list(expected()["prompt_ids"].get<std::vector<int32_t>>());
}

std::string describe(const RunResult& r) {
  return "status " + std::to_string(r.status) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// A failed run: the expected status, nothing on stdout, one "error:" line on stderr that contains
// `needle`.
void expect_failure(const RunResult& r, int status, const std::string& needle = "") {
  EXPECT_EQ(r.status, status) << describe(r);
  EXPECT_LT(r.status, 128) << "crashed: " << describe(r);
  EXPECT_EQ(r.out, "") << describe(r);
  EXPECT_EQ(r.err.rfind("error:", 0), 0u) << describe(r);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n') << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not a single line: " << r.err;
  if (!needle.empty()) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << "wanted '" << needle << "' in " << r.err;
  }
}

// stdout is exactly one JSON object followed by a newline.
json single_json(const RunResult& r) {
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_FALSE(r.out.empty());
  if (r.out.empty()) return json();
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  json j;
  try {
    j = json::parse(r.out);  // throws on anything after the object but whitespace
  } catch (const json::exception& e) {
    ADD_FAILURE() << "stdout is not one JSON value: " << e.what() << "\n" << r.out;
    return json();
  }
  EXPECT_TRUE(j.is_object()) << r.out;
  return j;
}

// A copy of a fixture model (config.json and the weight files only) in a temporary directory, to
// break or to inspect without the fixture's expected.safetensors, which sits in the same directory
// and, since every *.safetensors file of a checkpoint directory is read (spec §5.3), counts as a
// shard there.
struct ModelCopy {
  test::TempDir dir;
  explicit ModelCopy(const std::string& from = kModel) {
    for (const auto& e : fs::directory_iterator(from)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("expected", 0) != 0) fs::copy_file(e.path(), dir.file(name));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// dispatch

TEST(Cli, NoArgumentsIsUsageError) {
  RunResult r = run_rcc({});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("usage: rcc <command>"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Cli, UnknownCommandIsUsageError) {
  RunResult r = run_rcc({"frobnicate", "--model", kModel});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.err.rfind("error: unknown command 'frobnicate'", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Cli, DeviceSelection) {
  // An unknown device is a usage error; `cuda` either runs (a GPU and a CUDA build) or fails with
  // one clear error line (no CUDA in this build, or no usable GPU) — never a crash.
  auto bad =
      test::run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,2", "--device", "tpu"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown device 'tpu'"), std::string::npos) << bad.err;
  auto cuda = test::run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,2",
                             "--max-new-tokens", "2", "--device", "cuda", "--json"});
  if (cuda.status != 0) {
    EXPECT_EQ(cuda.status, 1) << cuda.err;
    EXPECT_EQ(cuda.err.rfind("error:", 0), 0u) << cuda.err;
    EXPECT_NE(cuda.err.find("CUDA"), std::string::npos) << cuda.err;
  } else {
    EXPECT_NE(cuda.out.find("\"ids\""), std::string::npos);
  }
  auto cpu = test::run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,2",
                            "--max-new-tokens", "2", "--device", "cpu", "--json"});
  EXPECT_EQ(cpu.status, 0) << cpu.err;
}

TEST(Cli, Help) {
  RunResult r = run_rcc({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("generate"), std::string::npos);
  for (const char* cmd : {"info", "generate", "bench"}) {
    r = run_rcc({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_EQ(r.out.rfind(std::string("usage: rcc ") + cmd, 0), 0u) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

// ---------------------------------------------------------------------------------------------
// info

TEST(Cli, InfoText) {
  RunResult r = run_rcc({"info", "--model", kModel});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(
      r.out.find(
          "gpt_neox, 3 layers, hidden 64, 4 heads (4 key/value) of 16, mlp 256 (gelu), vocab 1000"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("parallel"), std::string::npos);
  EXPECT_NE(r.out.find("parameters     278080"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  ModelCopy m;
  r = run_rcc({"info", "--model", m.dir.path()});
  EXPECT_NE(r.out.find("F32, 40 tensors in 1 file(s)"), std::string::npos) << r.out;
}

TEST(Cli, InfoJson) {
  const ModelConfig cfg = ModelConfig::load(kModel + "/config.json");
  json f = single_json(run_rcc({"info", "--model", kModel, "--json"}));
  EXPECT_EQ(f["parameters"], cfg.parameter_count());
  EXPECT_EQ(f["parameters"], 278080);
  EXPECT_EQ(f["hidden_size"], 64);
  EXPECT_EQ(f["dtype"], "F32");

  ModelCopy m;  // the weights alone: exact counts
  json j = single_json(run_rcc({"info", "--model", m.dir.path(), "--json"}));
  EXPECT_EQ(j["parameters"], cfg.parameter_count());
  EXPECT_EQ(j["stored_elements"], cfg.parameter_count());
  EXPECT_EQ(j["stored_tensors"], 40);  // 3 layers x 12 + embed_in, final norm (2), embed_out
  EXPECT_EQ(j["hidden_size"], 64);
  EXPECT_EQ(j["num_layers"], 3);
  EXPECT_EQ(j["num_heads"], 4);
  EXPECT_EQ(j["vocab_size"], 1000);
  EXPECT_EQ(j["dtype"], "F32");
  EXPECT_EQ(j["shards"], 1);
  EXPECT_EQ(j["weights_bytes"], cfg.parameter_count() * 4);
  EXPECT_EQ(j["kv_cache_bytes_per_token"], 2 * 3 * 64 * 4);
  EXPECT_EQ(j["use_parallel_residual"], true);

  ModelCopy bf(test::fixture("gptneox/serial-bf16"));
  json b = single_json(run_rcc({"info", "--model", bf.dir.path(), "--json"}));
  EXPECT_EQ(b["dtype"], "BF16");
  EXPECT_EQ(b["use_parallel_residual"], false);
  EXPECT_EQ(b["weights_bytes"], b["parameters"].get<int64_t>() * 2);
  ModelCopy sh(test::fixture("gptneox/sharded-f32"));
  json s = single_json(run_rcc({"info", "--model", sh.dir.path(), "--json"}));
  EXPECT_EQ(s["shards"], 4);
  EXPECT_EQ(s["stored_elements"], s["parameters"]);
}

TEST(Cli, InfoErrors) {
  test::TempDir d;
  // Without --model: the default model; $RCC_MODEL naming no model directory is a usage error.
  ::setenv("RCC_MODEL", d.file("nope").c_str(), 1);
  expect_failure(run_rcc({"info"}), 2, "RCC_MODEL");
  ::unsetenv("RCC_MODEL");
  expect_failure(run_rcc({"info", "--model", d.file("nope")}), 1, d.file("nope"));
  expect_failure(run_rcc({"info", "--model", kModel, "--bogus"}), 2, "--bogus");
  ModelCopy m;
  test::write_file(m.dir.file("config.json"), "{\"hidden_size\": 64,");
  expect_failure(run_rcc({"info", "--model", m.dir.path()}), 1, "config.json");
}

// ---------------------------------------------------------------------------------------------
// generate

TEST(Cli, GenerateJsonMatchesFixtureGreedyIds) {
  const json e = expected();
  RunResult r = run_rcc({"generate", "--model", kModel, "--prompt-ids", prompt_ids(),
                         "--max-new-tokens", "16", "--no-stop", "--json"});
  json j = single_json(r);
  EXPECT_EQ(j["ids"], e["greedy_ids"]);
  EXPECT_EQ(j["prompt_tokens"], e["prompt_ids"].size());
  EXPECT_EQ(j["stopped"], false);
  EXPECT_TRUE(j["load_seconds"].is_number());
  EXPECT_TRUE(j["generate_seconds"].is_number());
}

TEST(Cli, GenerateTextAndThreads) {
  const std::string want = id_list(expected()["greedy_ids"].get<std::vector<int32_t>>()) + "\n";
  for (const char* threads : {"1", "2", "3"}) {
    RunResult r = run_rcc({"generate", "--model", kModel, "--prompt-ids", prompt_ids(),
                           "--max-new-tokens=16", "--no-stop", "--threads", threads});
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_EQ(r.out, want) << "threads " << threads;
  }
}

TEST(Cli, GenerateStopIds) {
  const auto greedy = expected()["greedy_ids"].get<std::vector<int32_t>>();
  json j = single_json(run_rcc({"generate", "--model", kModel, "--prompt-ids", prompt_ids(),
                                "--stop-ids", std::to_string(greedy[3]), "--json"}));
  EXPECT_EQ(j["ids"], json(std::vector<int32_t>(greedy.begin(), greedy.begin() + 4)));
  EXPECT_EQ(j["stopped"], true);
  // --max-new-tokens 0: nothing.
  j = single_json(run_rcc({"generate", "--model", kModel, "--prompt-ids", prompt_ids(),
                           "--max-new-tokens", "0", "--json"}));
  EXPECT_EQ(j["ids"], json::array());
}

TEST(Cli, GenerateSamplingFlags) {
  const std::vector<std::string> args = {"generate",     "--model",    kModel,
                                         "--prompt-ids", prompt_ids(), "--max-new-tokens",
                                         "12",           "--no-stop",  "--temperature",
                                         "0.8",          "--top-k",    "20",
                                         "--top-p",      "0.9",        "--repetition-penalty",
                                         "1.1",          "--seed",     "1234",
                                         "--json"};
  json a = single_json(run_rcc(args));
  ASSERT_TRUE(a["ids"].is_array());
  EXPECT_EQ(a["ids"].size(), 12u);
  for (const auto& id : a["ids"]) EXPECT_TRUE(id.get<int>() >= 0 && id.get<int>() < 1000);
  EXPECT_EQ(single_json(run_rcc(args))["ids"], a["ids"]);  // same seed, same ids
}

TEST(Cli, GenerateUsageErrors) {
  const std::string p = prompt_ids();
  auto gen = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"generate", "--model", kModel, "--prompt-ids", p};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_rcc(a);
  };
  expect_failure(run_rcc({"generate", "--prompt-ids", "1,2"}), 2, "--model");
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,x"}), 2, "'x'");
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", ""}), 2, "prompt-ids");
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,,2"}), 2, "empty id");
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", "-1"}), 2, "'-1'");
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", "99999999999"}), 2,
                 "too large");
  expect_failure(run_rcc({"generate", "--model", kModel}), 2, "--prompt");
  expect_failure(gen({"--prompt", "hello"}), 2, "exactly one of --prompt and --prompt-ids");
  expect_failure(gen({"--temperature", "-1"}), 2, "temperature");
  expect_failure(gen({"--temperature", "nan"}), 2, "temperature");
  expect_failure(gen({"--temperature", "1e999"}), 2, "temperature");
  expect_failure(gen({"--temperature", "0.5x"}), 2, "temperature");
  expect_failure(gen({"--max-new-tokens", "abc"}), 2, "--max-new-tokens expects an integer");
  expect_failure(gen({"--max-new-tokens", "-3"}), 2, "--max-new-tokens must lie in");
  expect_failure(gen({"--max-new-tokens", "1", "--max-new-tokens", "2"}), 2, "given twice");
  expect_failure(gen({"--top-p", "0"}), 2, "top-p");
  expect_failure(gen({"--top-p", "1.5"}), 2, "top-p");
  expect_failure(gen({"--top-k", "-1"}), 2, "top-k");
  expect_failure(gen({"--repetition-penalty", "0"}), 2, "repetition");
  expect_failure(gen({"--seed", "-5"}), 2, "seed");
  expect_failure(gen({"--threads", "0"}), 2, "threads");
  expect_failure(gen({"--stop-ids", "a"}), 2, "stop-ids");
  expect_failure(gen({"--bogus"}), 2, "unknown option --bogus");
  expect_failure(gen({"--json=yes"}), 2, "json");
  expect_failure(gen({"--max-new-tokens"}), 2, "needs a value");
  expect_failure(gen({"2", "3"}), 2, "unexpected argument '2'");  // meant --prompt-ids 1,2,3
  expect_failure(run_rcc({"info", "--model", kModel, "extra"}), 2, "unexpected argument 'extra'");
  expect_failure(run_rcc({"bench", "160m"}), 2, "unexpected argument '160m'");
}

TEST(Cli, GenerateRuntimeErrors) {
  // A token id outside the vocabulary [0, 1000).
  expect_failure(run_rcc({"generate", "--model", kModel, "--prompt-ids", "1,2,5000"}), 1, "5000");
  // No such model directory / a file instead of a directory / a directory without config.json.
  test::TempDir d;
  expect_failure(run_rcc({"generate", "--model", d.file("nope"), "--prompt-ids", "1"}), 1,
                 d.file("nope"));
  test::write_file(d.file("plain"), "x");
  expect_failure(run_rcc({"generate", "--model", d.file("plain"), "--prompt-ids", "1"}), 1);
  expect_failure(run_rcc({"generate", "--model", d.path(), "--prompt-ids", "1"}), 1,
                 "no config.json");
  {  // Garbage config.json.
    ModelCopy m;
    test::write_file(m.dir.file("config.json"),
                     "\x7f"
                     "ELF garbage");
    expect_failure(run_rcc({"generate", "--model", m.dir.path(), "--prompt-ids", "1"}), 1,
                   "config.json");
  }
  {  // A config that is JSON but misses a field.
    ModelCopy m;
    json c = json::parse(test::read_file(m.dir.file("config.json")));
    c.erase("num_attention_heads");
    test::write_file(m.dir.file("config.json"), c.dump());
    expect_failure(run_rcc({"generate", "--model", m.dir.path(), "--prompt-ids", "1"}), 1,
                   "num_attention_heads");
  }
  {  // Truncated safetensors, at several points.
    const std::string bytes = test::read_file(kModel + "/model.safetensors");
    for (size_t keep : {size_t(3), size_t(20), bytes.size() / 3, bytes.size() - 4}) {
      ModelCopy m;
      test::write_file(m.dir.file("model.safetensors"), bytes.substr(0, keep));
      expect_failure(run_rcc({"generate", "--model", m.dir.path(), "--prompt-ids", "1"}), 1,
                     "model.safetensors");
    }
  }
  {  // A weight missing.
    ModelCopy m;
    json c = json::parse(test::read_file(m.dir.file("config.json")));
    c["num_hidden_layers"] = 4;  // the file has 3 layers
    test::write_file(m.dir.file("config.json"), c.dump());
    expect_failure(run_rcc({"generate", "--model", m.dir.path(), "--prompt-ids", "1"}), 1,
                   "gpt_neox.layers.3.");
  }
}

TEST(Cli, BenchUsageErrors) {
  expect_failure(run_rcc({"bench", "--dtype", "f64"}), 2, "--dtype");
  expect_failure(run_rcc({"bench", "--prompt", "0"}), 2, "--prompt");
  expect_failure(run_rcc({"bench", "--gemm", "1,2"}), 2, "--gemm");
  expect_failure(run_rcc({"bench", "--gemm", "0,8,8"}), 2, "--gemm");
}

}  // namespace
}  // namespace rcc
