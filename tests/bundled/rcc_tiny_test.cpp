// The bundled model (models/rcc-tiny, the CLI's default) on the CPU, through the CLI as a user runs
// it: a pass key hidden in 32k tokens of real text (WikiText-2 test, which the model never trained
// on) must come back. Two paths:
//  - `rcc ask --context FILE --question "What is the pass key?"` (no --model: the default model;
//    instruction reconstruction) with the needle in the middle of the text;
//  - `rcc eval passkey` on 10 contexts of exactly 32,768 tokens, keys and depths drawn from a
//    fixed seed. Required: >= 7/10. The model scored 97% on 200 such contexts of held-out text on
//    an H100 (bench/results/rcc_tiny.md); 7/10 leaves room for sampling variation without
//    letting a model that cannot retrieve pass (chance of guessing 5 digits: 1e-5 per sample).
// And content questions: the reference's own example (the cat on the sofa among 1000 dogs on
// stools, spec §4.5) must be answered exactly, and facts like it (2 animals, 2,048 tokens,
// instruction reconstruction, 20 fixed samples) >= 15/20: the model scored 92/100 at 8k tokens
// on an H100; a model that only knew the answer format would pick among the 12 places (~8%), one
// that could tell which places occur but not which animal sits where would score ~50%
// (P(>= 15/20) = 2%).
// The same model exported as q8 (int8 linear layers with block scales, `rcc export --dtype q8`)
// must pass the same pass-key bar and answer the reference's example exactly.
// Its own executable (tests/CMakeLists.txt): ~3 minutes of CPU, not run in sanitizer builds.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "../test_util.h"

namespace rcc {
namespace {

const std::string kModel = std::string(RCC_SOURCE_DIR) + "/models/rcc-tiny";

// `rcc eval ARGS --json --quiet` on the bundled model; prints "what: correct/samples" and returns
// the summary (the run must succeed).
nlohmann::json eval_summary(std::vector<std::string> args, const char* what,
                            const std::string& model = kModel) {
  args.insert(args.begin() + 1, {"--model", model});
  args.insert(args.end(), {"--json", "--quiet"});
  test::RunResult ev = test::run_rcc(args);
  EXPECT_EQ(ev.status, 0) << ev.err;
  const nlohmann::json r = nlohmann::json::parse(ev.status == 0 ? ev.out : "{}");
  if (ev.status == 0)
    std::printf("%s on the CPU: %d/%d\n", what, r["correct"].get<int>(), r["samples"].get<int>());
  return r;
}

// `rcc eval passkey` on 10 contexts of exactly 32,768 tokens of WikiText-2 test (keys, depths from
// seed 2026): the summary, after checking it covers 10 samples.
nlohmann::json passkey_at_32k(const std::string& model, const char* what) {
  test::TempDir tmp;
  test::RunResult tok =
      test::run_rcc({"data", "tokenize", "--tokenizer", kModel + "/tokenizer.json", "--out",
                     tmp.file("wiki"), test::data("text/wikitext-2-test.txt.gz")});
  EXPECT_EQ(tok.status, 0) << tok.err;
  const nlohmann::json r = eval_summary(
      {"eval", "passkey", "--samples", "10", "--min-tokens", "32768", "--max-tokens", "32768",
       "--digits", "5", "--seed", "2026", "--set", "haystack=" + tmp.file("wiki*") + ",mode=ir"},
      what, model);
  EXPECT_TRUE(r.contains("samples"));
  EXPECT_EQ(r.value("samples", 0), 10);
  return r;
}

// The reference's example (spec §4.5): the cat on the sofa among 1000 dogs on stools; the answer.
std::string cat_example_answer(const std::string& model) {
  std::string text = "The cat sat on the sofa.";
  for (int i = 0; i < 1000; ++i) text += "The dog sat on the stool.";
  test::TempDir tmp;
  test::write_file(tmp.file("cat.txt"), text);
  test::RunResult r = test::run_rcc({"ask", "--model", model, "--context", tmp.file("cat.txt"),
                                     "--question", "Where does the cat sit?", "--json", "--quiet"});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out)["answer"].get<std::string>() : r.err;
}

TEST(BundledModel, IsTheDefaultAndFitsTheLimits) {
  test::RunResult r = test::run_rcc({"info", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_NE(j.dump().find("rcc-tiny"), std::string::npos) << j.dump();
  // The shipped files: at most 40 MB in all, no weight file over 15 MiB.
  size_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(kModel)) {
    total += e.file_size();
    if (e.path().extension() == ".safetensors") {
      EXPECT_LE(e.file_size(), size_t(15) << 20) << e.path();
    }
  }
  EXPECT_LE(total, size_t(40) * 1000 * 1000);
  for (const char* f : {"config.json", "rcc.json", "tokenizer.json", "MODEL_CARD.md"})
    EXPECT_TRUE(std::filesystem::exists(kModel + "/" + f)) << f;
}

// About 32k tokens of WikiText-2 test with "The pass key is 48613. Remember it. 48613 is the
// pass key." at the middle.
TEST(BundledModel, AnswersAPasskeyQuestionOver32kTokens) {
  std::string text = test::read_text(test::data("text/wikitext-2-test.txt.gz"));
  text = text.substr(0, 135000);  // ~32k tokens of this tokenizer
  const std::string needle = " The pass key is 48613. Remember it. 48613 is the pass key. ";
  size_t mid = text.find(". ", text.size() / 2);
  ASSERT_NE(mid, std::string::npos);
  text.insert(mid + 1, needle);
  test::TempDir tmp;
  test::write_file(tmp.file("book.txt"), text);
  test::RunResult r = test::run_rcc({"ask", "--context", tmp.file("book.txt"), "--question",
                                     "What is the pass key?", "--json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::printf("context %lld tokens -> %s\n", j["context_tokens"].get<long long>(),
              j["answer"].get<std::string>().c_str());
  EXPECT_GE(j["context_tokens"].get<int64_t>(), 30000);
  EXPECT_NE(j["answer"].get<std::string>().find("48613"), std::string::npos) << r.out;
}

TEST(BundledModel, PasskeyAccuracyAt32kTokens) {
  const nlohmann::json r = passkey_at_32k(kModel, "passkey at 32k tokens");
  EXPECT_GE(r.value("correct", 0), 7) << r.dump().substr(0, 2000);
}

TEST(BundledModel, AnswersTheReferenceExample) {
  EXPECT_EQ(cat_example_answer(kModel), "The cat sits on the sofa.");
}

TEST(BundledModel, Q8ExportKeepsThePasskeyAndTheReferenceExample) {
  test::TempDir tmp;
  const std::string q8 = tmp.file("rcc-tiny-q8");
  test::RunResult ex = test::run_rcc({"export", "--model", kModel, "--out", q8, "--dtype", "q8"});
  ASSERT_EQ(ex.status, 0) << ex.err;
  EXPECT_EQ(cat_example_answer(q8), "The cat sits on the sofa.");
  const nlohmann::json r = passkey_at_32k(q8, "q8: passkey at 32k tokens");
  EXPECT_GE(r.value("correct", 0), 7) << r.dump().substr(0, 2000);
}

TEST(BundledModel, FactsAccuracyAt2kTokens) {
  const nlohmann::json r =
      eval_summary({"eval", "facts", "--samples", "20", "--seed", "2026", "--set",
                    "facts=2,min_tokens=2048,max_tokens=2048,mode=ir"},
                   "facts at 2k tokens");
  ASSERT_TRUE(r.contains("samples"));
  EXPECT_EQ(r["samples"].get<int>(), 20);
  EXPECT_GE(r["correct"].get<int>(), 15) << r.dump().substr(0, 2000);
}

// `rcc eval TASK` with no flags but --samples: the default model, its eval.json, the repository's
// data (held-out text of its corpus, the bAbI test stories, WikiText-2 test). Passkey at 4,096
// tokens of held-out text: the model scored 97% on 200 samples (MODEL_CARD.md); >= 7/10 here, as
// for 32k above. The others must run and score what they were asked to.
TEST(BundledModel, EvalRunsOnTheRepositoryDataWithNoFlags) {
  struct Case {
    const char* task;
    int samples;
    const char* data_key;  // the setting that names repository data
  };
  for (const Case& c : {Case{"passkey", 10, "haystack"}, Case{"facts", 4, nullptr},
                        Case{"babi", 4, "data"}, Case{"reconstruct", 2, "data"}}) {
    test::RunResult ev = test::run_rcc(
        {"eval", c.task, "--samples", std::to_string(c.samples), "--json", "--quiet"});
    ASSERT_EQ(ev.status, 0) << c.task << ": " << ev.err;
    const nlohmann::json r = nlohmann::json::parse(ev.out);
    std::printf("eval %s (defaults): %d/%d\n", c.task, r["correct"].get<int>(),
                r["samples"].get<int>());
    EXPECT_EQ(r["samples"].get<int>(), c.samples) << c.task;
    if (c.data_key) {
      const std::string path = r["settings"][c.data_key].get<std::string>();
      EXPECT_NE(path.find("/data/"), std::string::npos) << c.task << ": " << path;
      EXPECT_TRUE(std::filesystem::exists(path)) << c.task << ": " << path;
    }
    if (std::string(c.task) == "passkey") {
      EXPECT_GE(r["correct"].get<int>(), 7) << ev.out;
    }
  }
}

}  // namespace
}  // namespace rcc
