// rcc tokenize / detokenize, and rcc generate with a tokenizer.json beside the model.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using test::run_rcc;
using test::RunResult;

const std::string& neox_path() {
  static const std::string p = test::neox_tokenizer_path();
  return p;
}

void expect_failure(const RunResult& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(TokenizerCli, TokenizePlainJsonAndFile) {
  RunResult r = run_rcc({"tokenize", "--tokenizer", neox_path()}, "Hello world<|endoftext|>  x");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "12092,1533,0,50276,89\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--json"}, "Hello world");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse(R"({"ids": [12092, 1533], "count": 2})"));
  test::TempDir dir;
  test::write_file(dir.file("in.txt"), "I'm here\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--input", dir.file("in.txt")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "42,1353,1060,187\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--input", "-"}, "x");
  EXPECT_EQ(r.out, "89\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path()});  // empty stdin
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path()},
              "a\xFF"
              "b");  // invalid UTF-8: U+FFFD
  EXPECT_EQ(r.out, "66,21478,67\n");
}

TEST(TokenizerCli, TokenizeJsonl) {
  RunResult r =
      run_rcc({"tokenize", "--tokenizer", neox_path(), "--jsonl"}, "\"Hello\"\n\"a  b\"\r\n\"\"\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[12092]\n[66,50276,67]\n[]\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--jsonl"}, "\"ok\"\n{\"text\": 1}\n");
  expect_failure(r, 1, "stdin:2: expected a JSON string");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--jsonl"}, "\"ok\"\n\"ok\"\nnope\n");
  expect_failure(r, 1, "stdin:3: not valid JSON");
  test::TempDir dir;
  test::write_file(dir.file("in.jsonl"), "\"a\"\n\n");
  r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--jsonl", "--input", dir.file("in.jsonl")});
  expect_failure(r, 1, dir.file("in.jsonl") + ":2: not valid JSON");
}

TEST(TokenizerCli, Detokenize) {
  RunResult r = run_rcc({"detokenize", "--tokenizer", neox_path(), "--ids", "12092,1533,0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world<|endoftext|>");
  r = run_rcc(
      {"detokenize", "--tokenizer", neox_path(), "--ids", "12092,0,1533", "--skip-special"});
  EXPECT_EQ(r.out, "Hello world");
  r = run_rcc({"detokenize", "--tokenizer", neox_path(), "--ids", ""});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  expect_failure(run_rcc({"detokenize", "--tokenizer", neox_path(), "--ids", "1,50277"}), 1,
                 "50277 is not a token id");
  expect_failure(run_rcc({"detokenize", "--tokenizer", neox_path(), "--ids", "1,x"}), 2, "'x'");
  expect_failure(run_rcc({"detokenize", "--tokenizer", neox_path()}), 2, "--ids");
}

TEST(TokenizerCli, ModelDirAndErrors) {
  test::TempDir dir;
  test::write_file(dir.file("tokenizer.json"), test::read_text(neox_path()));
  RunResult r = run_rcc({"tokenize", "--model", dir.path()}, "Hello");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "12092\n");
  r = run_rcc({"detokenize", "--model", dir.path(), "--ids", "12092"});
  EXPECT_EQ(r.out, "Hello");
  test::TempDir empty;
  expect_failure(run_rcc({"tokenize", "--model", empty.path()}, "x"), 1, "no tokenizer.json in");
  expect_failure(run_rcc({"tokenize"}, "x"), 2, "--tokenizer");
  expect_failure(run_rcc({"tokenize", "--tokenizer", neox_path(), "--model", dir.path()}, "x"), 2,
                 "not both");
  expect_failure(run_rcc({"tokenize", "--tokenizer", neox_path(), "--json", "--jsonl"}, "x"), 2,
                 "at most one");
  expect_failure(run_rcc({"tokenize", "--tokenizer", neox_path(), "--bogus"}, "x"), 2, "--bogus");
  expect_failure(run_rcc({"tokenize", "--tokenizer", dir.file("missing.json")}, "x"), 1,
                 "cannot open");
  test::write_file(dir.file("bad.json"), "{\"model\": ");
  expect_failure(run_rcc({"tokenize", "--tokenizer", dir.file("bad.json")}, "x"), 1,
                 "bad.json: not valid JSON");
  expect_failure(run_rcc({"tokenize", "--tokenizer", neox_path(), "--input", dir.file("nope.txt")}),
                 1, "nope.txt: cannot open");
  r = run_rcc({"tokenize", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--jsonl"), std::string::npos);
}

TEST(TokenizerCli, BenchReportsThroughput) {
  RunResult r = run_rcc({"tokenize", "--tokenizer", neox_path(), "--bench", "--repeat", "2"},
                        std::string(1000, 'a') + "\nHello world\n");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["bytes"], 1013);
  EXPECT_EQ(j["repeat"], 2);
  EXPECT_GT(j["tokens"].get<int>(), 0);
  EXPECT_GT(j["best_mb_per_s"].get<double>(), 0);
}

// A model directory with the tiny GPT-NeoX fixture (vocabulary 768) and the tiny tokenizer
// (ids < 261), so that --prompt can be encoded and the output decoded.
class TokenizerCliGenerate : public testing::Test {
 protected:
  void SetUp() override {
    const std::string src = test::fixture("gptneox/serial-bf16");
    for (const char* f : {"config.json", "model.safetensors"})
      std::filesystem::copy_file(src + "/" + f, dir_.file(f));
    test::write_file(dir_.file("tokenizer.json"), test::tiny_tokenizer_json().dump());
  }
  test::TempDir dir_;
};

TEST_F(TokenizerCliGenerate, PromptIsEncodedAndOutputDecoded) {
  const Tokenizer tiny = Tokenizer::from_json(test::tiny_tokenizer_json().dump());
  RunResult a = run_rcc({"generate", "--model", dir_.path(), "--prompt", "hello he", "--json",
                         "--max-new-tokens", "6", "--no-stop"});
  ASSERT_EQ(a.status, 0) << a.err;
  json ja = json::parse(a.out);
  EXPECT_EQ(ja["prompt_tokens"], 3);  // "hello", " ", "he"
  const auto ids = ja["ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(ja["text"], tiny.decode(ids));
  // The same prompt given as ids generates the same ids.
  const std::vector<int32_t> prompt = tiny.encode("hello he");
  std::string csv;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (i) csv += ',';
    csv += std::to_string(prompt[i]);
  }
  RunResult b = run_rcc({"generate", "--model", dir_.path(), "--prompt-ids", csv, "--json",
                         "--max-new-tokens", "6", "--no-stop"});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(json::parse(b.out)["ids"], ja["ids"]);
  // Plain output: the decoded text.
  RunResult c = run_rcc({"generate", "--model", dir_.path(), "--prompt", "hello he",
                         "--max-new-tokens", "6", "--no-stop"});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.out, tiny.decode(ids) + "\n");
  expect_failure(run_rcc({"generate", "--model", dir_.path(), "--prompt", ""}), 1, "--prompt");
}

TEST_F(TokenizerCliGenerate, WithoutTokenizerPromptFails) {
  std::filesystem::remove(dir_.file("tokenizer.json"));
  expect_failure(run_rcc({"generate", "--model", dir_.path(), "--prompt", "hi"}), 1,
                 "needs a tokenizer.json");
}

}  // namespace
}  // namespace rcc
