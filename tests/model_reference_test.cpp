// Forward and generation of GPT-NeoX and the Llama family (Llama 3, Qwen2, Qwen3, Mistral) against
// Hugging Face transformers (fixtures made by tests/reference/make_gptneox_fixtures.py and
// make_llama_fixtures.py; what each case exercises is listed there). Tolerances:
//  - logits: max |rcc - hf| / max |hf| <= 1e-4. Both sides compute in f32 on identical weights; the
//    remaining difference is summation order in matrix products and softmax (observed ~1e-6).
//  - greedy ids: identical (the fixtures record a top-2 logit margin >= 5e-3 at every step, far
//    above the f32 noise, so a mismatch is a real bug).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/generate.h"
#include "model/load.h"
#include "test_util.h"

namespace rcc {
namespace {

using nlohmann::json;

struct Case {
  std::string dir;
  json expected;
  std::vector<int32_t> prompt;
};

Case load_case(const std::string& name) {
  Case c;
  c.dir = test::fixture(name);
  c.expected = json::parse(test::read_file(c.dir + "/expected.json"));
  c.prompt = c.expected["prompt_ids"].get<std::vector<int32_t>>();
  return c;
}

class ModelReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelReference, FullSequenceLogitsMatch) {
  Case c = load_case(GetParam());
  Transformer model = load_model(c.dir);
  KVCache cache = model.new_cache();
  std::vector<float> logits = model.forward_logits(c.prompt, cache);
  Tensor want = SafetensorsFile::open(c.dir + "/expected.safetensors").get("logits");
  ASSERT_EQ(want.shape(), (Shape{int64_t(c.prompt.size()), model.config().vocab_size}));
  double err = test::norm_rel_error(logits, want.to_vector());
  EXPECT_LE(err, 1e-4) << GetParam();
  RecordProperty("logits_rel_error", std::to_string(err));
}

TEST_P(ModelReference, GreedyIdsMatch) {
  Case c = load_case(GetParam());
  Transformer model = load_model(c.dir);
  GenerateParams gp;
  gp.max_new_tokens = 16;  // no stop ids: the fixture generated 16 tokens regardless of eos
  GenerateResult r = generate(model, c.prompt, gp);
  EXPECT_EQ(r.ids, c.expected["greedy_ids"].get<std::vector<int32_t>>());
}

TEST_P(ModelReference, CachedDecodingEqualsRecomputation) {
  // Feed the prompt, then tokens one at a time through the cache; compare each step's logits with a
  // fresh full forward of the whole sequence. Same arithmetic up to summation order: 1e-5.
  Case c = load_case(GetParam());
  Transformer model = load_model(c.dir);
  const int64_t V = model.config().vocab_size;
  KVCache cache = model.new_cache();
  std::vector<int32_t> seq(c.prompt.begin(), c.prompt.begin() + 5);
  model.forward_logits(seq, cache);
  for (int step = 0; step < 8; ++step) {
    int32_t next = c.prompt[size_t(5 + step)];
    std::vector<float> inc = model.forward_logits({next}, cache);
    seq.push_back(next);
    KVCache fresh = model.new_cache();
    std::vector<float> full = model.forward_logits(seq, fresh);
    std::vector<float> last(full.end() - V, full.end());
    EXPECT_LE(test::norm_rel_error(inc, last), 1e-5) << "step " << step;
  }
  EXPECT_EQ(cache.length(), int64_t(seq.size()));
}

TEST_P(ModelReference, BatchEqualsSingleSequences) {
  // Three prompts of different lengths generated as one batch give the ids of three separate runs.
  Case c = load_case(GetParam());
  Transformer model = load_model(c.dir);
  std::vector<std::vector<int32_t>> prompts = {
      c.prompt, std::vector<int32_t>(c.prompt.begin(), c.prompt.begin() + 7),
      std::vector<int32_t>(c.prompt.rbegin(), c.prompt.rbegin() + 13)};
  GenerateParams gp;
  gp.max_new_tokens = 10;
  std::vector<KVCache> caches(3, model.new_cache());
  auto batch = generate(model, {&caches[0], &caches[1], &caches[2]}, prompts, gp);
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(batch[i].ids, generate(model, prompts[i], gp).ids) << "sequence " << i;
  EXPECT_EQ(batch[0].ids, std::vector<int32_t>(c.expected["greedy_ids"].begin(),
                                               c.expected["greedy_ids"].begin() + 10));
}

TEST_P(ModelReference, ForwardRowsEqualsForwardAtThoseRows) {
  // forward_rows (the RCC encoder's last layer at its slot rows only) against forward() over every
  // row, then those rows picked out: two sequences in one batch, rows of both, out of order, one
  // repeated. Same arithmetic on fewer rows, so only summation order may differ: 1e-5.
  Case c = load_case(GetParam());
  Transformer model = load_model(c.dir);
  const int64_t H = model.config().hidden_size;
  std::vector<int32_t> ids(c.prompt.begin(), c.prompt.end());
  const int64_t n0 = int64_t(ids.size()), n1 = 9;
  ids.insert(ids.end(), c.prompt.begin(), c.prompt.begin() + n1);
  const int64_t rows = n0 + n1;
  const std::vector<int64_t> keep = {rows - 1, 3, n0 - 1, n0, 3};
  std::vector<float> full(size_t(rows * H)), part(size_t(rows * H)), out(keep.size() * size_t(H));
  int64_t calls = 0;
  ForwardHooks hooks;
  hooks.after_layer = [&](int64_t, void*, int64_t) { ++calls; };
  KVCache a0 = model.new_cache(), a1 = model.new_cache(), b0 = model.new_cache(),
          b1 = model.new_cache();
  model.embed(ids.data(), rows, full.data());
  part = full;
  std::vector<SeqSlice> sa = {{0, n0, &a0}, {n0, n1, &a1}}, sb = {{0, n0, &b0}, {n0, n1, &b1}};
  model.forward(full.data(), rows, sa);
  model.forward_rows(part.data(), rows, sb, &hooks, keep, out.data());
  EXPECT_EQ(calls, model.config().num_layers);
  EXPECT_EQ(b0.length(), n0);
  EXPECT_EQ(b1.length(), n1);
  std::vector<float> want;
  for (int64_t r : keep) want.insert(want.end(), full.begin() + r * H, full.begin() + (r + 1) * H);
  EXPECT_LE(test::norm_rel_error(out, want), 1e-5) << GetParam();
  EXPECT_THROW(
      model.forward_rows(part.data(), rows, sb, nullptr, std::vector<int64_t>{rows}, out.data()),
      Error);
}

// The fixtures can tell: dropping Llama 3's frequency scaling or Mistral's window (computing
// something close but wrong) moves the logits far outside the 1e-4 tolerance.
TEST(ModelReferenceSensitivity, ScalingAndWindowMatter) {
  for (const char* name : {"llama/llama3-gqa", "llama/mistral-window"}) {
    Case c = load_case(name);
    ModelConfig cfg = ModelConfig::load(c.dir + "/config.json");
    cfg.rope_scaling = RopeScaling{};
    cfg.sliding_window = 0;
    Transformer model(cfg, ModelWeights::load(Checkpoint::open(c.dir), cfg));
    KVCache cache = model.new_cache();
    std::vector<float> logits = model.forward_logits(c.prompt, cache);
    Tensor want = SafetensorsFile::open(c.dir + "/expected.safetensors").get("logits");
    EXPECT_GT(test::norm_rel_error(logits, want.to_vector()), 1e-2) << name;
  }
}

// What rcc writes into the config.json of a model it saves (RCC models made from a base) reads
// back as the same model: every field that changes the computation survives to_json().
TEST(ModelConfigRoundTrip, LlamaFamilyConfigsSurviveToJson) {
  for (const char* name : {"llama/llama3-gqa", "llama/llama-bias-bf16", "llama/qwen2-mqa",
                           "llama/qwen3-headdim", "llama/mistral-window"}) {
    SCOPED_TRACE(name);
    const ModelConfig a = ModelConfig::load(test::fixture(name) + "/config.json");
    const ModelConfig b = ModelConfig::parse(a.to_json(), "round trip");
    EXPECT_EQ(b.model_type, a.model_type);
    EXPECT_EQ(b.parameter_count(), a.parameter_count());
    EXPECT_EQ(b.rope().inv_freq, a.rope().inv_freq);
    EXPECT_EQ(b.norm_eps, a.norm_eps);
    EXPECT_EQ(std::tie(b.qkv_bias, b.out_bias, b.mlp_bias, b.qk_norm, b.tie_word_embeddings),
              std::tie(a.qkv_bias, a.out_bias, a.mlp_bias, a.qk_norm, a.tie_word_embeddings));
    for (int64_t l = 0; l < a.num_layers; ++l) {
      const AttentionShape x = a.attention(l), y = b.attention(l);
      EXPECT_EQ(std::tie(y.heads, y.kv_heads, y.hd, y.interleaved, y.window),
                std::tie(x.heads, x.kv_heads, x.hd, x.interleaved, x.window));
    }
    EXPECT_EQ(b.eos_token_ids, a.eos_token_ids);
  }
}

// Head geometry a family cannot have is refused with the field's name; Qwen's window layers
// follow transformers' defaults.
TEST(ModelConfigRefusals, FamilyGeometry) {
  auto err = [](const std::string& text) {
    try {
      ModelConfig::parse(text, "c.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string base = R"("vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 64)";
  EXPECT_NE(err("{" + base + R"(, "num_key_value_heads": 2})").find("num_key_value_heads 2"),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(, "model_type": "llama", "num_key_value_heads": 3})")
                .find("not a multiple"),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(, "model_type": "llama", "partial_rotary_factor": 0.5})")
                .find("partial_rotary_factor"),
            std::string::npos);
  // use_sliding_window without max_window_layers: transformers' 28, past these 2 layers.
  const ModelConfig q = ModelConfig::parse(
      "{" + base + R"(, "model_type": "qwen2", "use_sliding_window": true, "sliding_window": 8})",
      "c.json");
  EXPECT_EQ(q.attention(0).window, 0);
  EXPECT_EQ(q.attention(1).window, 0);
  const ModelConfig q1 = ModelConfig::parse(
      "{" + base +
          R"(, "model_type": "qwen2", "use_sliding_window": true, "sliding_window": 8,
          "max_window_layers": 1})",
      "c.json");
  EXPECT_EQ(q1.attention(0).window, 0);
  EXPECT_EQ(q1.attention(1).window, 8);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelReference,
                         ::testing::Values("gptneox/parallel-f32", "gptneox/serial-bf16",
                                           "gptneox/sharded-f32", "llama/llama3-gqa",
                                           "llama/llama-bias-bf16", "llama/qwen2-mqa",
                                           "llama/qwen3-headdim", "llama/mistral-window"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-' || ch == '/') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace rcc
