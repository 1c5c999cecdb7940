// RCC models from base models of the Llama family: the chat format read from a base model's
// tokenizer_config.json (the bundled Llama 3, Qwen3 and Mistral files), and `rcc init --from-base`
// on the Qwen3 fixture of tests/fixtures/llama (both networks start from the base: with identity
// projections and f32 weights the decoder computes the base model's logits exactly as loaded).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "model/load.h"
#include "rcc/chat.h"
#include "rcc/rcc_model.h"
#include "test_util.h"

namespace rcc {
namespace {

using nlohmann::json;

// The message of the rcc::Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ChatTemplate bundled(const std::string& name) {
  const std::string path = test::data("tokenizers/" + name + "/tokenizer_config.json");
  return chat_template_from_tokenizer_config(test::read_file(path), path);
}

TEST(ChatFormat, RecognisedFromBundledTokenizerConfigs) {
  const ChatTemplate llama3 = bundled("llama-3");
  EXPECT_EQ(llama3.answer_end, "<|eot_id|>");
  EXPECT_EQ(llama3.question_suffix, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(llama3.preamble.rfind("<|begin_of_text|><|start_header_id|>system", 0), 0u);
  const ChatTemplate qwen3 = bundled("qwen3");  // ChatML: the defaults
  EXPECT_EQ(qwen3.preamble, ChatTemplate{}.preamble);
  EXPECT_EQ(qwen3.answer_end, "<|im_end|>");
  // Mistral 7B v0.1 (a base model): no template, no chat tokens -> ChatML written as text.
  EXPECT_EQ(bundled("mistral-7b-v0.1").answer_marker, ChatTemplate{}.answer_marker);
  // The [INST] family, the named-template form, and an unknown template.
  const ChatTemplate inst = chat_template_from_tokenizer_config(
      R"({"chat_template": [{"name": "default", "template": "{{ bos_token }}[INST] x [/INST]"}]})",
      "t");
  EXPECT_EQ(inst.preamble, "<s>[INST] ");
  EXPECT_EQ(inst.answer_end, "</s>");
  const std::string err = error_of([] {
    chat_template_from_tokenizer_config(R"({"chat_template": "{{ messages }}"})", "tc.json");
  });
  EXPECT_NE(err.find("tc.json: chat_template is of no known format"), std::string::npos) << err;
  EXPECT_NE(error_of([] { chat_template_from_tokenizer_config("[1]", "x"); }), "");
  // The answer is cut at the format's end of turn.
  EXPECT_EQ(extract_answer("Paris<|eot_id|>junk", llama3, true), "Paris");
}

TEST(InitFromBase, Qwen3FixtureBecomesAnRCCModel) {
  test::TempDir tmp;
  const std::string base = test::fixture("llama/qwen3-headdim");
  test::write_file(tmp.file("rcc.json"), R"({"window": 16, "ratio": 4, "mode": "aligned"})");
  const std::string out = tmp.file("rcc-qwen3");
  test::RunResult r = test::run_rcc(
      {"init", "--from-base", base, "--out", out, "--rcc", tmp.file("rcc.json"), "--dtype", "f32"});
  ASSERT_EQ(r.status, 0) << r.err;
  RCCModel m = RCCModel::load(out);
  EXPECT_EQ(m.decoder.config().model_type, "qwen3");
  EXPECT_EQ(m.settings.window, 16);
  EXPECT_EQ(m.settings.ratio, 4);
  // Identity projections: E = I, A_i = 0.
  const std::vector<float> e = m.embed_proj.to_vector();
  const int64_t H = m.hidden();
  for (int64_t i = 0; i < H; ++i) EXPECT_EQ(e[size_t(i * H + i)], 1.0f);
  for (const Tensor& a : m.layer_proj)
    for (float v : a.to_vector()) ASSERT_EQ(v, 0.0f);
  // The decoder is the base model: Hugging Face's logits at the fixture's tolerance (1e-4).
  const json expected = json::parse(test::read_file(base + "/expected.json"));
  const auto prompt = expected["prompt_ids"].get<std::vector<int32_t>>();
  KVCache cache = m.decoder.new_cache();
  const std::vector<float> logits = m.decoder.forward_logits(prompt, cache);
  const Tensor want = SafetensorsFile::open(base + "/expected.safetensors").get("logits");
  EXPECT_LE(test::norm_rel_error(logits, want.to_vector()), 1e-4);
  // `rcc info` describes it.
  test::RunResult info = test::run_rcc({"info", "--model", out, "--json"});
  ASSERT_EQ(info.status, 0) << info.err;
  const json j = json::parse(info.out);
  EXPECT_EQ(j["architecture"], "qwen3");
  EXPECT_EQ(j["num_kv_heads"], 2);
  EXPECT_TRUE(j.contains("rcc"));
  // Refusals: both sources, or none; an existing non-empty output.
  EXPECT_NE(
      test::run_rcc({"init", "--from-base", base, "--config", "x.json", "--out", tmp.file("o2")})
          .status,
      0);
  EXPECT_NE(test::run_rcc({"init", "--from-base", base, "--out", out}).status, 0);
}

// `rcc generate` and `rcc info` on Hugging Face directories of the family: the fixtures' greedy
// continuations (transformers' generate) from the CLI.
TEST(BaseModelCli, GenerateReproducesTransformersGreedyIds) {
  for (const char* name : {"llama/llama3-gqa", "llama/qwen2-mqa", "llama/mistral-window"}) {
    SCOPED_TRACE(name);
    const std::string dir = test::fixture(name);
    const json expected = json::parse(test::read_file(dir + "/expected.json"));
    std::string ids;
    for (const auto& id : expected["prompt_ids"]) ids += (ids.empty() ? "" : ",") + id.dump();
    test::RunResult r = test::run_rcc({"generate", "--model", dir, "--prompt-ids", ids,
                                       "--max-new-tokens", "16", "--no-stop", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], expected["greedy_ids"]) << r.out;
    r = test::run_rcc({"info", "--model", dir});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(expected["case"]["arch"].get<std::string>() + ", "), std::string::npos)
        << r.out;
  }
}

// A Qwen3-shaped RCC model with the real Qwen3 tokenizer through the CLI: init, compress, ask
// (answers are noise: random weights; the test checks the plumbing of every command).
TEST(InitFromBase, Qwen3ShapedModelCompressesAndAnswers) {
  test::TempDir tmp;
  test::write_file(tmp.file("cfg.json"), R"({
    "model_type": "qwen3", "vocab_size": 151936, "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 64,
    "rope_theta": 1000000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
    "eos_token_id": 151643, "rcc": {"window": 64, "ratio": 8, "mode": "aligned"}})");
  test::write_file(tmp.file("tokenizer.json"),
                   test::read_text(test::data("tokenizers/qwen3/tokenizer.json.gz")));
  const std::string model = tmp.file("m");
  test::RunResult r = test::run_rcc({"init", "--config", tmp.file("cfg.json"), "--out", model,
                                     "--tokenizer", tmp.file("tokenizer.json")});
  ASSERT_EQ(r.status, 0) << r.err;
  test::write_file(tmp.file("ctx.txt"),
                   "The cat sat on the sofa. The dog sat on the stool. 猫は"
                   "ソファに座った。 The bird sat on the branch.\n");
  r = test::run_rcc({"compress", "--model", model, "--input", tmp.file("ctx.txt"), "--out",
                     tmp.file("ctx.rccm"), "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = test::run_rcc({"ask", "--model", model, "--memory", tmp.file("ctx.rccm"), "--question",
                     "Where did the cat sit?", "--max-new-tokens", "4", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out).contains("answer")) << r.out;
  r = test::run_rcc({"info", "--model", model, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["architecture"], "qwen3");
}

}  // namespace
}  // namespace rcc
