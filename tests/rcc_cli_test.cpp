// rcc compress / ask / inspect end to end through the CLI, on a small random RCC model with the
// real GPT-NeoX tokenizer (made here; its answers are noise, the tests check plumbing and
// invariants).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "rcc/rcc_init.h"
#include "test_util.h"

namespace rcc {
namespace {

using nlohmann::json;

class RCCCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ModelConfig cfg;
    cfg.vocab_size = 50304, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
    cfg.intermediate_size = 64;
    RCCSettings s;
    s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
    init_random_rcc(cfg, s, DType::BF16, 1).save(model("a"), DType::BF16);
    init_random_rcc(cfg, s, DType::BF16, 2).save(model("b"), DType::BF16);
    for (const char* n : {"a", "b"})
      test::write_file(model(n) + "/tokenizer.json",
                       test::read_text(test::data("tokenizers/gpt-neox-20b/tokenizer.json.gz")));
    test::write_file(file("ctx.txt"),
                     "The cat sat on the sofa. " + std::string() +
                         "The dog sat on the stool. The dog sat on the stool. The dog sat on the "
                         "stool. The bird sat on the branch. The fish swam in the bowl.\n");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model(const std::string& n) { return dir_->file("model-" + n); }
  static std::string file(const std::string& n) { return dir_->file(n); }
  static json run_json(const std::vector<std::string>& args) {
    test::RunResult r = test::run_rcc(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  static test::TempDir* dir_;
};
test::TempDir* RCCCli::dir_ = nullptr;

TEST_F(RCCCli, CompressInspectAsk) {
  json c = run_json({"compress", "--model", model("a"), "--input", file("ctx.txt"), "--out",
                     file("m.rccm"), "--json"});
  EXPECT_EQ(c["mode"], "aligned");
  json i = run_json({"inspect", file("m.rccm"), "--json", "--export-slots", file("s.safetensors")});
  EXPECT_EQ(i["slots"], c["slots"]);
  EXPECT_EQ(i["levels"], 3);
  EXPECT_EQ(i["hidden"], 32);
  Tensor slots = SafetensorsFile::open(file("s.safetensors")).get("slots");
  EXPECT_EQ(slots.shape(), (Shape{c["slots"].get<int64_t>(), 3, 32}));
  EXPECT_EQ(slots.dtype(), DType::F32);
  json a = run_json({"ask", "--model", model("a"), "--memory", file("m.rccm"), "--question",
                     "Where does the cat sit?", "--max-new-tokens", "6", "--json"});
  EXPECT_EQ(a["mode"], "manual");
  EXPECT_TRUE(a["text"].is_string());
  EXPECT_TRUE(a["answer"].is_string());
  EXPECT_LE(a["ids"].size(), 6u);
  EXPECT_EQ(a["memory_slots"], c["slots"]);
  // Plain output: the answer alone on stdout.
  test::RunResult plain =
      test::run_rcc({"ask", "--model", model("a"), "--memory", file("m.rccm"), "--question",
                     "Where does the cat sit?", "--max-new-tokens", "6"});
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(plain.out, a["answer"].get<std::string>() + "\n");
}

TEST_F(RCCCli, InstructionReconstructionWithContext) {
  json a = run_json({"ask", "--model", model("a"), "--context", file("ctx.txt"), "--question",
                     "Where does the cat sit?", "--max-new-tokens", "4", "--json"});
  EXPECT_EQ(a["mode"], "instruction-reconstruction");
  json m = run_json({"ask", "--model", model("a"), "--context", file("ctx.txt"), "--question",
                     "Where does the cat sit?", "--manual", "--max-new-tokens", "4", "--json"});
  EXPECT_EQ(m["mode"], "manual");
  EXPECT_LT(m["memory_slots"].get<int>(), a["memory_slots"].get<int>());  // question not compressed
}

TEST_F(RCCCli, ManyQuestionsOneMemoryAndSavedDecoderCache) {
  run_json({"compress", "--model", model("a"), "--input", file("ctx.txt"), "--out", file("q.rccm"),
            "--json"});
  test::write_file(file("questions.txt"),
                   "Where does the cat sit?\nWhat swims?\n\nWho sits on the stool?\n");
  test::RunResult r = test::run_rcc({"ask", "--model", model("a"), "--memory", file("q.rccm"),
                                     "--questions", file("questions.txt"), "--max-new-tokens", "5",
                                     "--json", "--kv-cache", file("q.rcckv")});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<json> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(file("q.rcckv")));
  // Each equals asking alone (fresh process, fresh prefill), and the saved cache gives the same.
  for (const json& l : lines) {
    json alone = run_json({"ask", "--model", model("a"), "--memory", file("q.rccm"), "--question",
                           l["question"], "--max-new-tokens", "5", "--json"});
    EXPECT_EQ(alone["ids"], l["ids"]);
    json cached =
        run_json({"ask", "--model", model("a"), "--memory", file("q.rccm"), "--question",
                  l["question"], "--max-new-tokens", "5", "--json", "--kv-cache", file("q.rcckv")});
    EXPECT_EQ(cached["ids"], l["ids"]);
  }
}

TEST_F(RCCCli, AppendEqualsFullCompression) {
  test::write_file(file("ids1.json"),
                   "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,"
                   "30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,"
                   "56,57,58,59,60,61,62,63,64,65,66,67,68,69,70]");
  test::write_file(file("ids2.json"),
                   "[100,200,300,400,500,600,700,800,900,1000,1100,1200,1300,1400,1500,1600,1700,"
                   "1800,1900,2000,2100,2200,2300,2400,2500,2600,2700,2800,2900,3000,3100,3200,"
                   "3300,3400,3500,3600,3700,3800,3900,4000,4100,4200,4300,4400,4500,4600,4700,"
                   "4800,4900,5000,5100,5200,5300,5400,5500,5600,5700,5800,5900,6000,6100]");
  std::string all = test::read_file(file("ids1.json"));
  all.pop_back();
  all += "," + test::read_file(file("ids2.json")).substr(1);
  test::write_file(file("ids12.json"), all);
  run_json({"compress", "--model", model("a"), "--input-ids", file("ids1.json"), "--out",
            file("inc.rccm"), "--json"});
  json ap = run_json({"compress", "--model", model("a"), "--input-ids", file("ids2.json"), "--out",
                      file("inc.rccm"), "--append", "--json"});
  EXPECT_EQ(ap["windows_encoded"],
            2);  // the partial window (6 tokens) + the new tail, not window 0
  run_json({"compress", "--model", model("a"), "--input-ids", file("ids12.json"), "--out",
            file("full.rccm"), "--json"});
  EXPECT_EQ(test::read_file(file("inc.rccm")), test::read_file(file("full.rccm")));
}

// Several --memory read as one (spec §3.5): when the first memory ends on a window boundary
// (64 ids, W = 64, aligned) its slots followed by the second's are exactly the slots of one
// compression of both id lists, so the answers agree with asking that one memory. Greedy ids must
// match; the prefill runs the same rows in two passes instead of one, whose sums may round apart in
// the last bit, which has not flipped a greedy choice of this model (a mismatch would show it).
TEST_F(RCCCli, SeveralMemoriesReadAsOne) {
  std::string first = "[", second = "[";
  for (int i = 0; i < 64; ++i) first += (i ? "," : "") + std::to_string(100 + 7 * i);
  for (int i = 0; i < 40; ++i) second += (i ? "," : "") + std::to_string(3000 + 11 * i);
  test::write_file(file("m1.json"), first + "]");
  test::write_file(file("m2.json"), second + "]");
  test::write_file(file("m12.json"), first + "," + second.substr(1) + "]");
  for (const char* n : {"m1", "m2", "m12"})
    run_json({"compress", "--model", model("a"), "--input-ids", file(std::string(n) + ".json"),
              "--out", file(std::string(n) + ".rccm"), "--json"});
  const std::vector<std::string> ask = {"ask",   "--model",          model("a"), "--prompt-ids",
                                        "5,6,7", "--max-new-tokens", "6",        "--json"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = ask;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_json(a);
  };
  const json two = with({"--memory", file("m1.rccm"), "--memory", file("m2.rccm")});
  const json one = with({"--memory", file("m12.rccm")});
  EXPECT_EQ(two["memory_slots"], one["memory_slots"]);
  EXPECT_EQ(two["context_tokens"], 104);
  EXPECT_EQ(two["ids"], one["ids"]);
  // The order matters: the other order is another memory (its slot count is the same).
  const json swapped = with({"--memory", file("m2.rccm"), "--memory", file("m1.rccm")});
  EXPECT_EQ(swapped["memory_slots"], one["memory_slots"]);
  // A saved decoder cache belongs to one memory.
  test::RunResult r =
      test::run_rcc({"ask", "--model", model("a"), "--memory", file("m1.rccm"), "--memory",
                     file("m2.rccm"), "--question", "q", "--kv-cache", file("two.rcckv")});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("one --memory"), std::string::npos) << r.err;
}

TEST_F(RCCCli, Refusals) {
  run_json({"compress", "--model", model("a"), "--input", file("ctx.txt"), "--out", file("r.rccm"),
            "--mode", "compat", "--json"});
  auto expect_error = [](const std::vector<std::string>& args, int status,
                         const std::string& needle) {
    test::RunResult r = test::run_rcc(args);
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_EQ(r.err.rfind("error:", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  };
  expect_error({"ask", "--model", model("b"), "--memory", file("r.rccm"), "--question", "q"}, 1,
               "another encoder");
  expect_error(
      {"ask", "--model", model("a"), "--memory", file("r.rccm"), "--question", "q", "--ir"}, 1,
      "aligned");
  expect_error({"compress", "--model", model("a"), "--input", file("ctx.txt"), "--out",
                file("r.rccm"), "--append"},
               1, "aligned");
  expect_error({"ask", "--model", model("a"), "--memory", file("r.rccm")}, 2, "nothing to ask");
  expect_error({"ask", "--model", model("a"), "--memory", file("r.rccm"), "--context",
                file("ctx.txt"), "--question", "q"},
               2, "exactly one");
  std::string bytes = test::read_file(file("r.rccm"));
  test::write_file(file("t.rccm"), bytes.substr(0, bytes.size() / 2));
  expect_error({"inspect", file("t.rccm")}, 1, "t.rccm");
  expect_error({"ask", "--model", model("a"), "--memory", file("t.rccm"), "--question", "q"}, 1,
               "t.rccm");
  expect_error(
      {"compress", "--model", model("a"), "--input", file("missing.txt"), "--out", file("x.rccm")},
      1, "missing.txt");
  EXPECT_FALSE(std::filesystem::exists(file("x.rccm")));
  test::write_file(file("bad.json"), "[1, -2]");
  expect_error(
      {"compress", "--model", model("a"), "--input-ids", file("bad.json"), "--out", file("x.rccm")},
      1, "element 1");
  test::write_file(file("big.json"), "[1, 60000]");
  expect_error(
      {"compress", "--model", model("a"), "--input-ids", file("big.json"), "--out", file("x.rccm")},
      1, "60000");
  expect_error({"compress", "--model", test::fixture("gptneox/parallel-f32"), "--input-ids",
                file("ids1.json"), "--out", file("x.rccm")},
               1, "not an RCC checkpoint");
  EXPECT_FALSE(std::filesystem::exists(file("x.rccm")));
  // FP8 encoders (spec §2.8) need the CUDA backend on Hopper: the CPU says so and writes nothing;
  // the flag's values are checked before any work.
  for (const char* cmd : {"compress", "eval"}) {
    std::vector<std::string> args = {cmd, "--model", model("a"), "--encoder-precision", "fp8"};
    if (std::string(cmd) == "compress") {
      for (const char* a : {"--input", "ctx.txt", "--out", "x.rccm"})
        args.push_back(a[0] == '-' ? a : file(a));
    } else {
      args.insert(args.begin() + 1, "passkey");
    }
    expect_error(args, 1, "need the CUDA backend");
    args[args.size() - (std::string(cmd) == "compress" ? 5 : 1)] = "fp16";
    expect_error(args, 2, "--encoder-precision must be bf16 or fp8");
  }
  EXPECT_FALSE(std::filesystem::exists(file("x.rccm")));
  // rcc.json's encoder_precision: fp8 is refused on the CPU, bf16 on the command line overrides
  // it, and an unknown value names the field.
  std::filesystem::copy(model("a"), file("m8"), std::filesystem::copy_options::recursive);
  json rj = json::parse(test::read_file(file("m8/rcc.json")));
  rj["encoder_precision"] = "fp8";
  test::write_file(file("m8/rcc.json"), rj.dump());
  expect_error(
      {"compress", "--model", file("m8"), "--input", file("ctx.txt"), "--out", file("x.rccm")}, 1,
      "need the CUDA backend");
  EXPECT_EQ(
      run_json({"compress", "--model", file("m8"), "--input", file("ctx.txt"), "--out",
                file("x.rccm"), "--encoder-precision", "bf16", "--json"})["encoder_precision"],
      "bf16");
  rj["encoder_precision"] = "int4";
  test::write_file(file("m8/rcc.json"), rj.dump());
  expect_error(
      {"compress", "--model", file("m8"), "--input", file("ctx.txt"), "--out", file("y.rccm")}, 1,
      "'encoder_precision': unknown encoder precision 'int4'");
}

TEST(RCCSettings, EncoderPrecisionRoundTrip) {
  RCCSettings s;
  EXPECT_EQ(s.to_json().find("encoder_precision"), std::string::npos);  // bf16: not written
  s.encoder_precision = EncoderPrecision::FP8;
  const RCCSettings back = RCCSettings::parse(s.to_json(), "test");
  EXPECT_EQ(back.encoder_precision, EncoderPrecision::FP8);
  EXPECT_EQ(RCCSettings::parse("{}", "t").encoder_precision, EncoderPrecision::BF16);
  EXPECT_THROW(RCCSettings::parse(R"({"encoder_precision": 8})", "t"), Error);
}

}  // namespace
}  // namespace rcc

namespace rcc {
namespace {

// rcc eval's defaults: DIR/eval.json (data paths relative to DIR, so any working directory
// works), text files as haystacks; missing data names the file, the settings file and a way out.
TEST_F(RCCCli, EvalDefaultsFromEvalJson) {
  const std::string m = model("a");
  test::write_file(file("hay.txt"),
                   test::read_text(test::data("text/wikitext-2-test.txt.gz")).substr(0, 20000));
  test::write_file(m + "/eval.json",
                   R"({"eval": [{"kind": "passkey", "min_tokens": 100, "max_tokens": 100,)"
                   R"( "digits": 3, "mode": "ir", "haystack": "../hay.txt"},)"
                   R"( {"kind": "babi", "data": "../missing-stories.txt.gz"}]})");
  json r = run_json({"eval", "passkey", "--model", m, "--samples", "2", "--json", "--quiet"});
  EXPECT_EQ(r["samples"], 2);
  EXPECT_EQ(r["settings"]["haystack"],
            std::filesystem::path(file("hay.txt")).lexically_normal().string());
  EXPECT_EQ(r["settings"]["digits"], 3);
  test::RunResult bad = test::run_rcc({"eval", "babi", "--model", m, "--samples", "1", "--quiet"});
  EXPECT_EQ(bad.status, 1);
  for (const char* part : {"missing-stories.txt.gz", "eval.json", "--data"})
    EXPECT_NE(bad.err.find(part), std::string::npos) << part << " in " << bad.err;
  std::filesystem::remove(m + "/eval.json");
}

TEST_F(RCCCli, ExportShardsDecoderAndDefaultModel) {
  // bf16 -> bf16 in shards of at most 1 MiB: the same weights, so the same greedy answer.
  test::RunResult r = test::run_rcc({"export", "--model", model("a"), "--out", file("exp"),
                                     "--dtype", "bf16", "--max-shard-mb", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(file("exp/model.safetensors.index.json")));
  EXPECT_TRUE(std::filesystem::exists(file("exp/tokenizer.json")));
  EXPECT_TRUE(std::filesystem::exists(file("exp/rcc.json")));
  int shards = 0;
  for (const auto& e : std::filesystem::directory_iterator(file("exp"))) {
    if (e.path().extension() != ".safetensors") continue;
    ++shards;
    // The vocabulary matrices (50304 x 32 bf16, 3.1 MiB) exceed the limit and get a shard each.
    EXPECT_TRUE(e.file_size() <= (size_t(1) << 20) + 4096 || e.file_size() > (size_t(3) << 20))
        << e.path();
  }
  EXPECT_GE(shards, 3);
  const std::vector<std::string> ask = {
      "--context", file("ctx.txt"), "--question", "Where does the cat sit?", "--max-new-tokens",
      "6",         "--json"};
  std::vector<std::string> a1 = {"ask", "--model", model("a")},
                           a2 = {"ask", "--model", file("exp")};
  a1.insert(a1.end(), ask.begin(), ask.end());
  a2.insert(a2.end(), ask.begin(), ask.end());
  EXPECT_EQ(run_json(a1)["ids"], run_json(a2)["ids"]);

  // The decoder alone, as a plain GPT-NeoX model that `rcc generate` runs.
  r = test::run_rcc({"export", "--model", model("a"), "--out", file("dec"), "--decoder"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file("dec/rcc.json")));
  const SafetensorsFile dec = SafetensorsFile::open(file("dec/model.safetensors"));
  EXPECT_TRUE(dec.contains("embed_out.weight"));
  for (const auto& [name, info] : dec.tensors())
    EXPECT_EQ(name.find("rcc_"), std::string::npos) << name;
  r = test::run_rcc(
      {"generate", "--model", file("dec"), "--prompt", "Hello", "--max-new-tokens", "3"});
  EXPECT_EQ(r.status, 0) << r.err;

  // Refusals: an existing output, --decoder of a plain model, a bad dtype. Nothing half-written.
  r = test::run_rcc({"export", "--model", model("a"), "--out", file("exp")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = test::run_rcc({"export", "--model", file("dec"), "--out", file("dec2"), "--decoder"});
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(std::filesystem::exists(file("dec2")));
  r = test::run_rcc({"export", "--model", model("a"), "--out", file("x"), "--dtype", "f8"});
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(std::filesystem::exists(file("x")));

  // No --model: $RCC_MODEL names the default model.
  ::setenv("RCC_MODEL", file("exp").c_str(), 1);
  r = test::run_rcc({"info", "--json"});
  EXPECT_EQ(r.status, 0) << r.err;
  ::setenv("RCC_MODEL", file("nowhere").c_str(), 1);
  r = test::run_rcc({"info"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("RCC_MODEL"), std::string::npos) << r.err;
  ::unsetenv("RCC_MODEL");
}

}  // namespace
}  // namespace rcc
