// Checkpoint directories (io/checkpoint.h), config.json parsing (model/config.h), weight loading
// (model/weights.h) and model directories (model/load.h). Every checkpoint here is built in a
// TempDir with write_safetensors, so each case controls exactly which tensors, shapes and dtypes
// exist.
//
// Tolerances: none. Loading copies or views stored bytes without arithmetic, so every value check
// is an exact equality; the forward passes compared here run the same code on bit-identical weights
// and must agree bit for bit.
//
// Every failure must be an rcc::Error (never a crash, never another exception type) whose message
// names the file, tensor or field at fault and what was expected.
#include "io/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/init.h"
#include "model/load.h"
#include "model/weights.h"
#include "test_util.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::TempDir;
using Named = std::vector<std::pair<std::string, Tensor>>;

// Runs `f`, which must throw an rcc::Error; returns its message (empty, with a failure, otherwise).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-rcc exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error was thrown";
  return "";
}

#define EXPECT_HAS(msg, needle) \
  EXPECT_NE(std::string(msg).find(needle), std::string::npos) << "message: " << (msg)

// A tiny GPT-NeoX: V=40, H=16, 2 heads of 8 (rotary 2 dims), I=24, 2 layers.
ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 2;
  c.intermediate_size = 24;
  c.rotary_pct = 0.25;
  return c;
}

json tiny_config_json() {
  return json::parse(tiny_config().to_json());
}

// Random weights (non-trivial biases and norms too, so a swapped tensor would show).
Named tiny_weights(const ModelConfig& cfg, DType t = DType::F32, uint64_t seed = 7) {
  Named named = init_random_weights(cfg, t, seed, 0.5f).named();
  uint64_t s = seed * 31;
  for (auto& [name, tensor] : named)
    if (tensor.ndim() == 1) {
      Tensor v = Tensor::empty(DType::F32, tensor.shape());
      fill_normal(v.f32(), v.numel(), ++s, 0.3f);
      tensor = v;
    }
  return named;
}

void write_config(const std::string& dir, const json& cfg) {
  test::write_file(dir + "/config.json", cfg.dump(1));
}

// config.json + model.safetensors.
void write_model(const std::string& dir, const ModelConfig& cfg, const Named& w) {
  write_config(dir, json::parse(cfg.to_json()));
  write_safetensors(dir + "/model.safetensors", w);
}

Named without(Named w, const std::string& name) {
  std::erase_if(w, [&](const auto& kv) { return kv.first == name; });
  return w;
}

Named replaced(Named w, const std::string& name, Tensor t) {
  for (auto& kv : w)
    if (kv.first == name) kv.second = t;
  return w;
}

const Tensor& find(const Named& w, const std::string& name) {
  for (const auto& kv : w)
    if (kv.first == name) return kv.second;
  throw std::runtime_error("test bug: no tensor " + name);
}

// Each loaded tensor equals the written one, value for value (and keeps the stored dtype).
void expect_weights_equal(const ModelWeights& got, const Named& want) {
  Named g = got.named();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i].first, want[i].first);
    EXPECT_EQ(g[i].second.shape(), want[i].second.shape()) << g[i].first;
    if (g[i].second.ndim() == 2) {
      EXPECT_EQ(g[i].second.dtype(), want[i].second.dtype());
    }
    EXPECT_EQ(g[i].second.to_vector(), want[i].second.to_vector()) << g[i].first;
  }
}

std::vector<float> logits_of(const Transformer& m) {
  KVCache cache = m.new_cache();
  return m.forward_logits({1, 5, 39, 0, 17, 3, 3}, cache);
}

Tensor iota_f32(Shape shape, float start) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = start + float(i);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Layouts

TEST(Checkpoint, SingleFile) {
  TempDir d;
  ModelConfig cfg = tiny_config();
  Named w = tiny_weights(cfg);
  write_model(d.path(), cfg, w);
  Checkpoint c = Checkpoint::open(d.path());
  ASSERT_EQ(c.shard_paths().size(), 1u);
  EXPECT_EQ(fs::path(c.shard_paths()[0]).filename(), "model.safetensors");
  EXPECT_EQ(c.names().size(), w.size());
  EXPECT_TRUE(c.contains("gpt_neox.embed_in.weight"));
  EXPECT_FALSE(c.contains("gpt_neox.embed_in"));
  EXPECT_EQ(c.shape("gpt_neox.layers.1.attention.query_key_value.weight"), (Shape{48, 16}));
  EXPECT_EQ(c.dtype("embed_out.weight"), DType::F32);
  size_t bytes = 0;
  for (const auto& kv : w) bytes += kv.second.nbytes();
  EXPECT_EQ(c.total_bytes(), bytes);
  EXPECT_EQ(c.get("gpt_neox.final_layer_norm.bias", {16}).to_vector(),
            find(w, "gpt_neox.final_layer_norm.bias").to_vector());

  Transformer m = load_model(d.path());
  EXPECT_EQ(m.config().hidden_size, 16);
  expect_weights_equal(m.weights(), w);
}

TEST(Checkpoint, Bf16AndF16MatricesKeepTheirDtype) {
  for (DType t : {DType::BF16, DType::F16}) {
    TempDir d;
    ModelConfig cfg = tiny_config();
    Named w = tiny_weights(cfg, t);
    write_model(d.path(), cfg, w);
    Transformer m = load_model(d.path());
    EXPECT_EQ(m.weights().layers[0].qkv_w.dtype(), t);
    EXPECT_EQ(m.weights().layers[0].ln1_w.dtype(), DType::F32);  // vectors become f32
    expect_weights_equal(m.weights(), w);
  }
}

// Splits `w` over `n` shards round-robin, named as Hugging Face does, with an index.
void write_indexed_shards(const std::string& dir, const Named& w, int n) {
  std::vector<Named> parts{size_t(n)};
  json index;
  index["metadata"] = {{"total_size", 0}};
  for (size_t i = 0; i < w.size(); ++i) parts[i % size_t(n)].push_back(w[i]);
  for (int s = 0; s < n; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n);
    write_safetensors(dir + "/" + name, parts[size_t(s)]);
    for (const auto& kv : parts[size_t(s)]) index["weight_map"][kv.first] = name;
  }
  test::write_file(dir + "/model.safetensors.index.json", index.dump(2));
}

TEST(Checkpoint, ShardsWithIndex) {
  TempDir single, sharded;
  ModelConfig cfg = tiny_config();
  Named w = tiny_weights(cfg);
  write_model(single.path(), cfg, w);
  write_config(sharded.path(), tiny_config_json());
  write_indexed_shards(sharded.path(), w, 3);
  Checkpoint c = Checkpoint::open(sharded.path());
  EXPECT_EQ(c.shard_paths().size(), 3u);
  EXPECT_EQ(c.names().size(), w.size());
  Transformer m = load_model(sharded.path());
  expect_weights_equal(m.weights(), w);
  // Same weights, same code: bit-identical logits.
  EXPECT_EQ(logits_of(m), logits_of(load_model(single.path())));
}

TEST(Checkpoint, IndexErrors) {
  ModelConfig cfg = tiny_config();
  Named w = tiny_weights(cfg);
  {  // The index names a shard that does not exist.
    TempDir d;
    write_indexed_shards(d.path(), w, 2);
    json index = json::parse(test::read_file(d.file("model.safetensors.index.json")));
    index["weight_map"]["gpt_neox.embed_in.weight"] = "model-00007-of-00009.safetensors";
    test::write_file(d.file("model.safetensors.index.json"), index.dump());
    std::string msg = error_of([&] { Checkpoint::open(d.path()); });
    EXPECT_HAS(msg, "model.safetensors.index.json");
    EXPECT_HAS(msg, "gpt_neox.embed_in.weight");
    EXPECT_HAS(msg, "missing shard 'model-00007-of-00009.safetensors'");
  }
  {  // A shard file listed in the index was deleted.
    TempDir d;
    write_indexed_shards(d.path(), w, 2);
    fs::remove(d.file("model-00002-of-00002.safetensors"));
    std::string msg = error_of([&] { Checkpoint::open(d.path()); });
    EXPECT_HAS(msg, "missing shard 'model-00002-of-00002.safetensors'");
  }
  {  // The index puts a tensor in a shard that does not hold it.
    TempDir d;
    write_indexed_shards(d.path(), w, 2);
    json index = json::parse(test::read_file(d.file("model.safetensors.index.json")));
    // w[0] went to shard 1 (round-robin); claim it is in shard 2.
    index["weight_map"][w[0].first] = "model-00002-of-00002.safetensors";
    test::write_file(d.file("model.safetensors.index.json"), index.dump());
    std::string msg = error_of([&] { Checkpoint::open(d.path()); });
    EXPECT_HAS(msg, "'" + w[0].first + "' is not in shard 'model-00002-of-00002.safetensors'");
  }
  {  // The index is not JSON / has no weight_map / maps to a non-string.
    TempDir d;
    write_indexed_shards(d.path(), w, 2);
    test::write_file(d.file("model.safetensors.index.json"), "{\"weight_map\": {");
    EXPECT_HAS(error_of([&] { Checkpoint::open(d.path()); }), "not valid JSON");
    test::write_file(d.file("model.safetensors.index.json"), "{\"metadata\": {}}");
    EXPECT_HAS(error_of([&] { Checkpoint::open(d.path()); }), "weight_map");
    test::write_file(d.file("model.safetensors.index.json"),
                     "{\"weight_map\": {\"embed_out.weight\": 3}}");
    EXPECT_HAS(error_of([&] { Checkpoint::open(d.path()); }), "embed_out.weight");
  }
}

TEST(Checkpoint, BareShardsConcatenateAlongDim0InFileNameOrder) {
  TempDir d;
  // Written in the order c, a, b; file-name order is a, b, c.
  write_safetensors(d.file("c.safetensors"), {{"x", iota_f32({1, 3}, 200)}});
  write_safetensors(d.file("a.safetensors"),
                    {{"x", iota_f32({2, 3}, 0)}, {"only_a", iota_f32({2}, 7)}});
  write_safetensors(d.file("b.safetensors"), {{"x", iota_f32({3, 3}, 100)}});
  Checkpoint c = Checkpoint::open(d.path());
  EXPECT_EQ(c.shape("x"), (Shape{6, 3}));
  EXPECT_EQ(c.dtype("x"), DType::F32);
  std::vector<float> want;
  for (int i = 0; i < 6; ++i) want.push_back(float(i));
  for (int i = 0; i < 9; ++i) want.push_back(100.0f + float(i));
  for (int i = 0; i < 3; ++i) want.push_back(200.0f + float(i));
  Tensor x = c.get("x");
  EXPECT_EQ(x.shape(), (Shape{6, 3}));
  EXPECT_EQ(x.to_vector(), want);
  EXPECT_EQ(c.get("x", {6, 3}).to_vector(), want);
  EXPECT_HAS(error_of([&] { c.get("x", {2, 3}); }), "has shape [6, 3], expected [2, 3]");
  EXPECT_EQ(c.get("only_a").to_vector(), (std::vector<float>{7, 8}));
  EXPECT_EQ(c.total_bytes(), size_t(18 * 4 + 2 * 4));
}

TEST(Checkpoint, BareShardsConcatenateBf16And1D) {
  TempDir d;
  Tensor a = iota_f32({4}, 1).to(DType::BF16), b = iota_f32({1}, 9).to(DType::BF16);
  write_safetensors(d.file("shard-1.safetensors"), {{"v", a}});
  write_safetensors(d.file("shard-2.safetensors"), {{"v", b}});
  Checkpoint c = Checkpoint::open(d.path());
  Tensor v = c.get("v");
  EXPECT_EQ(v.dtype(), DType::BF16);
  EXPECT_EQ(v.to_vector(), (std::vector<float>{1, 2, 3, 4, 9}));
}

TEST(Checkpoint, ModelSplitAcrossBareShards) {
  // The reference loader's layout (spec §5.3): embed_in and embed_out each cut in two row blocks
  // over two shards without an index.
  TempDir whole, split;
  ModelConfig cfg = tiny_config();
  Named w = tiny_weights(cfg);
  write_model(whole.path(), cfg, w);
  write_config(split.path(), tiny_config_json());
  Named first, second;
  for (const auto& [name, t] : w) {
    if (name == "gpt_neox.embed_in.weight" || name == "embed_out.weight") {
      first.emplace_back(name, t.rows(0, 25).clone());
      second.emplace_back(name, t.rows(25, 40).clone());
    } else {
      (first.size() < 12 ? first : second).emplace_back(name, t);
    }
  }
  write_safetensors(split.file("pytorch_model-1.safetensors"), first);
  write_safetensors(split.file("pytorch_model-2.safetensors"), second);
  Transformer m = load_model(split.path());
  expect_weights_equal(m.weights(), w);
  EXPECT_EQ(logits_of(m), logits_of(load_model(whole.path())));
}

TEST(Checkpoint, IncompatiblePiecesAreAnError) {
  struct Case {
    Tensor a, b;
    const char* why;
  };
  std::vector<Case> cases = {
      {iota_f32({2, 3}, 0), iota_f32({2, 4}, 0), "trailing dimension differs"},
      {iota_f32({2, 3}, 0), iota_f32({2, 3}, 0).to(DType::BF16), "dtype differs"},
      {iota_f32({2, 3}, 0), iota_f32({6}, 0), "rank differs"},
      {iota_f32({}, 0), iota_f32({}, 0), "scalars cannot be concatenated"},
  };
  for (const Case& k : cases) {
    TempDir d;
    write_safetensors(d.file("a.safetensors"), {{"t", k.a}});
    write_safetensors(d.file("b.safetensors"), {{"t", k.b}});
    std::string msg = error_of([&] { Checkpoint::open(d.path()); });
    EXPECT_HAS(msg, "'t'") << k.why;
    EXPECT_HAS(msg, "incompatible") << k.why;
    EXPECT_HAS(msg, "b.safetensors") << k.why;
  }
}

TEST(Checkpoint, DirectoryErrors) {
  TempDir d;
  EXPECT_HAS(error_of([&] { Checkpoint::open(d.file("nope")); }), "not a directory");
  EXPECT_HAS(error_of([&] { Checkpoint::open(d.path()); }), "no *.safetensors files");
  EXPECT_HAS(error_of([&] { load_model(d.file("nope")); }), "model directory not found");
  EXPECT_HAS(error_of([&] { load_model(d.path()); }), "no config.json");
  write_config(d.path(), tiny_config_json());
  EXPECT_HAS(error_of([&] { load_model(d.path()); }), "no *.safetensors files");
  Checkpoint c = [&] {
    write_safetensors(d.file("model.safetensors"), {{"a", iota_f32({1}, 0)}});
    return Checkpoint::open(d.path());
  }();
  EXPECT_HAS(error_of([&] { c.get("b"); }), "missing tensor 'b'");
  EXPECT_HAS(error_of([&] { c.shape("b"); }), "missing tensor 'b'");
  EXPECT_HAS(error_of([&] { c.dtype("b"); }), "missing tensor 'b'");
}

// ---------------------------------------------------------------------------------------------
// Weights: missing, misshapen, mistyped, extra

TEST(Weights, MissingTensorNamesTensorAndExpectedShape) {
  TempDir d;
  ModelConfig cfg = tiny_config();
  write_model(d.path(), cfg,
              without(tiny_weights(cfg), "gpt_neox.layers.1.mlp.dense_4h_to_h.weight"));
  std::string msg = error_of([&] { load_model(d.path()); });
  EXPECT_HAS(msg, "missing tensor 'gpt_neox.layers.1.mlp.dense_4h_to_h.weight'");
  EXPECT_HAS(msg, "[16, 24]");
  EXPECT_HAS(msg, d.path());
}

TEST(Weights, MissingVectorAndHead) {
  ModelConfig cfg = tiny_config();
  {
    TempDir d;
    write_model(d.path(), cfg, without(tiny_weights(cfg), "gpt_neox.final_layer_norm.bias"));
    std::string msg = error_of([&] { load_model(d.path()); });
    EXPECT_HAS(msg, "'gpt_neox.final_layer_norm.bias' (expected shape [16])");
  }
  {  // Untied model without its LM head.
    TempDir d;
    write_model(d.path(), cfg, without(tiny_weights(cfg), "embed_out.weight"));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }),
               "'embed_out.weight' (expected shape [40, 16])");
  }
}

TEST(Weights, WrongShapeNamesTensorActualAndExpected) {
  ModelConfig cfg = tiny_config();
  {
    TempDir d;
    write_model(d.path(), cfg,
                replaced(tiny_weights(cfg), "gpt_neox.layers.0.attention.query_key_value.weight",
                         iota_f32({48, 17}, 0)));
    std::string msg = error_of([&] { load_model(d.path()); });
    EXPECT_HAS(msg,
               "'gpt_neox.layers.0.attention.query_key_value.weight' has shape [48, 17], "
               "expected [48, 16]");
  }
  {  // A transposed matrix is caught as well.
    TempDir d;
    write_model(d.path(), cfg,
                replaced(tiny_weights(cfg), "gpt_neox.layers.1.mlp.dense_h_to_4h.weight",
                         iota_f32({16, 24}, 0)));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }), "has shape [16, 24], expected [24, 16]");
  }
  {  // Vector of the wrong length, and a [1, H] vector.
    TempDir d;
    write_model(d.path(), cfg,
                replaced(tiny_weights(cfg), "gpt_neox.layers.0.input_layernorm.weight",
                         iota_f32({1, 16}, 0)));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }),
               "'gpt_neox.layers.0.input_layernorm.weight' has shape [1, 16], expected [16]");
  }
  {  // Vocabulary of the config disagrees with the embedding.
    TempDir d;
    ModelConfig other = cfg;
    other.vocab_size = 41;
    write_model(d.path(), other, tiny_weights(cfg));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }),
               "'gpt_neox.embed_in.weight' has shape [40, 16], expected [41, 16]");
  }
}

TEST(Weights, WrongDtypeIsAnError) {
  ModelConfig cfg = tiny_config();
  auto i32 = [](Shape s) { return Tensor::zeros(DType::I32, std::move(s)); };
  {
    TempDir d;
    write_model(
        d.path(), cfg,
        replaced(tiny_weights(cfg), "gpt_neox.layers.0.attention.dense.weight", i32({16, 16})));
    std::string msg = error_of([&] { load_model(d.path()); });
    EXPECT_HAS(msg, "'gpt_neox.layers.0.attention.dense.weight' has dtype I32");
    EXPECT_HAS(msg, "expected F32, BF16 or F16");
  }
  {  // Vectors too (they are converted to f32, but an integer norm weight is still wrong).
    TempDir d;
    write_model(
        d.path(), cfg,
        replaced(tiny_weights(cfg), "gpt_neox.layers.1.post_attention_layernorm.bias", i32({16})));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }),
               "'gpt_neox.layers.1.post_attention_layernorm.bias' has dtype I32");
  }
  {  // F64 and BOOL are valid safetensors dtypes but not weight dtypes.
    TempDir d;
    write_model(d.path(), cfg,
                replaced(tiny_weights(cfg), "gpt_neox.embed_in.weight",
                         Tensor::zeros(DType::BOOL, {40, 16})));
    EXPECT_HAS(error_of([&] { load_model(d.path()); }), "has dtype BOOL");
  }
}

TEST(Weights, ExtraTensorsAndBoolBuffersAreIgnored) {
  TempDir plain, extra;
  ModelConfig cfg = tiny_config();
  Named w = tiny_weights(cfg);
  write_model(plain.path(), cfg, w);
  Named more = w;
  Tensor mask = Tensor::zeros(DType::BOOL, {1, 1, 8, 8});
  for (int i = 0; i < 64; ++i) static_cast<uint8_t*>(mask.raw())[i] = (i % 8) <= (i / 8);
  more.emplace_back("gpt_neox.layers.0.attention.bias", mask);
  more.emplace_back("gpt_neox.layers.1.attention.bias", mask);
  more.emplace_back("gpt_neox.layers.0.attention.masked_bias", iota_f32({}, -1e9f));
  more.emplace_back("gpt_neox.layers.0.attention.rotary_emb.inv_freq", iota_f32({1}, 1));
  more.emplace_back("gpt_neox.embed_out.weight", iota_f32({40, 16}, 0));  // unused duplicate head
  more.emplace_back("something.else.entirely", Tensor::zeros(DType::I64, {3}));
  write_model(extra.path(), cfg, more);
  Transformer m = load_model(extra.path());
  expect_weights_equal(m.weights(), w);
  EXPECT_EQ(logits_of(m), logits_of(load_model(plain.path())));
}

TEST(Weights, TiedEmbeddings) {
  ModelConfig cfg = tiny_config();
  cfg.tie_word_embeddings = true;
  TempDir d;
  Named w = without(tiny_weights(cfg), "embed_out.weight");
  write_model(d.path(), cfg, w);
  Transformer m = load_model(d.path());
  EXPECT_TRUE(m.config().tie_word_embeddings);
  ASSERT_TRUE(m.weights().embed_out.defined());
  EXPECT_EQ(m.weights().embed_out.raw(), m.weights().embed_in.raw());  // shared, not copied
  EXPECT_EQ(m.weights().embed_out.shape(), (Shape{40, 16}));
  // The head is the input embedding: logits of a hidden state h are embed_in · h.
  std::vector<float> h(16, 0.0f);
  h[3] = 1.0f;
  std::vector<float> logits(40);
  m.logits(h.data(), 1, logits.data());
  std::vector<float> col(40);
  const std::vector<float> e = find(w, "gpt_neox.embed_in.weight").to_vector();
  for (int v = 0; v < 40; ++v) col[size_t(v)] = e[size_t(v * 16 + 3)];
  EXPECT_EQ(logits, col);
  // Parameter count has no separate head.
  ModelConfig untied = cfg;
  untied.tie_word_embeddings = false;
  EXPECT_EQ(untied.parameter_count() - cfg.parameter_count(), 40 * 16);
}

TEST(Weights, ParameterCountMatchesTensors) {
  ModelConfig cfg = tiny_config();
  int64_t n = 0;
  for (const auto& kv : tiny_weights(cfg)) n += kv.second.numel();
  EXPECT_EQ(cfg.parameter_count(), n);
}

TEST(Weights, TruncatedSafetensorsNamesTheFile) {
  ModelConfig cfg = tiny_config();
  TempDir good;
  write_model(good.path(), cfg, tiny_weights(cfg));
  const std::string bytes = test::read_file(good.file("model.safetensors"));
  // Cut inside the length prefix, inside the header, and inside the data.
  for (size_t keep : {size_t(0), size_t(5), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    TempDir d;
    write_config(d.path(), tiny_config_json());
    test::write_file(d.file("model.safetensors"), bytes.substr(0, keep));
    std::string msg = error_of([&] { load_model(d.path()); });
    EXPECT_HAS(msg, d.file("model.safetensors")) << "kept " << keep << " bytes";
  }
}

// ---------------------------------------------------------------------------------------------
// config.json

std::string config_error(const json& j) {
  return error_of([&] { ModelConfig::parse(j.dump(), "cfg.json"); });
}

TEST(Config, PythiaFieldsParsed) {
  ModelConfig c = ModelConfig::load(test::fixture("gptneox/parallel-f32/config.json"));
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_DOUBLE_EQ(c.rotary_pct, 0.25);
  EXPECT_EQ(c.rotary_dims(), 4);
  EXPECT_DOUBLE_EQ(c.rotary_base, 10000.0);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.use_parallel_residual);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{0});
  EXPECT_EQ(c.torch_dtype, "float32");
}

TEST(Config, RoundTripThroughToJson) {
  ModelConfig c = tiny_config();
  c.use_parallel_residual = false;
  c.rotary_base = 500.0;
  c.eos_token_ids = {2, 3};
  ModelConfig r = ModelConfig::parse(c.to_json(), "x");
  EXPECT_EQ(r.hidden_size, c.hidden_size);
  EXPECT_EQ(r.use_parallel_residual, false);
  EXPECT_DOUBLE_EQ(r.rotary_base, 500.0);
  EXPECT_EQ(r.eos_token_ids, (std::vector<int32_t>{2, 3}));
}

TEST(Config, NewerRotarySpellings) {
  json base = tiny_config_json();
  base.erase("rotary_pct");
  base.erase("rotary_emb_base");
  {  // transformers 4.4x top-level spelling
    json j = base;
    j["partial_rotary_factor"] = 0.5;
    j["rope_theta"] = 20000.0;
    ModelConfig c = ModelConfig::parse(j.dump(), "x");
    EXPECT_DOUBLE_EQ(c.rotary_pct, 0.5);
    EXPECT_DOUBLE_EQ(c.rotary_base, 20000.0);
    EXPECT_EQ(c.rotary_dims(), 4);
  }
  {  // transformers v5: rope_parameters, and "dtype" instead of "torch_dtype"
    json j = base;
    j.erase("torch_dtype");
    j["dtype"] = "bfloat16";
    j["rope_parameters"] = {
        {"rope_type", "default"}, {"rope_theta", 12345.0}, {"partial_rotary_factor", 1.0}};
    ModelConfig c = ModelConfig::parse(j.dump(), "x");
    EXPECT_DOUBLE_EQ(c.rotary_pct, 1.0);
    EXPECT_DOUBLE_EQ(c.rotary_base, 12345.0);
    EXPECT_EQ(c.rotary_dims(), 8);
    EXPECT_EQ(c.torch_dtype, "bfloat16");
  }
  {  // Integer rope_theta is a number too; null top-level fields defer to rope_parameters.
    json j = base;
    j["rope_theta"] = nullptr;
    j["rope_parameters"] = {{"rope_theta", 10000}, {"partial_rotary_factor", 0.25}};
    ModelConfig c = ModelConfig::parse(j.dump(), "x");
    EXPECT_DOUBLE_EQ(c.rotary_base, 10000.0);
    EXPECT_DOUBLE_EQ(c.rotary_pct, 0.25);
  }
  {  // Neither spelling: the GPT-NeoX defaults (0.25, 10000).
    ModelConfig c = ModelConfig::parse(base.dump(), "x");
    EXPECT_DOUBLE_EQ(c.rotary_pct, 0.25);
    EXPECT_DOUBLE_EQ(c.rotary_base, 10000.0);
  }
  {  // Wrong types are named.
    json j = base;
    j["rope_parameters"] = {{"rope_theta", "10000"}};
    EXPECT_HAS(config_error(j), "'rope_theta' must be a number");
    j = base;
    j["partial_rotary_factor"] = "0.25";
    EXPECT_HAS(config_error(j), "'partial_rotary_factor' must be a number");
  }
}

TEST(Config, UnsupportedRopeScalingIsRejected) {
  // A scaled rotary embedding changes the numbers; silently ignoring one would be wrong. Linear
  // and Llama 3 scaling are computed (model_config_test.cpp); the others are refused.
  json j = tiny_config_json();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 2.0}, {"rope_theta", 10000.0}};
  EXPECT_HAS(config_error(j), "rope_type 'yarn'");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 0.5}, {"rope_theta", 10000.0}};
  EXPECT_HAS(config_error(j), "factor >= 1");
  j = tiny_config_json();
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_HAS(config_error(j), "rope_scaling");
  j = tiny_config_json();
  j["rope_scaling"] = nullptr;  // what transformers 4.x writes by default
  EXPECT_NO_THROW(ModelConfig::parse(j.dump(), "x"));
}

TEST(Config, GarbageIsAClearError) {
  auto parse_error = [](const std::string& text) {
    return error_of([&] { ModelConfig::parse(text, "cfg.json"); });
  };
  EXPECT_HAS(parse_error("{\"hidden_size\": "), "cfg.json: not valid JSON");
  EXPECT_HAS(parse_error(""), "cfg.json: not valid JSON");
  EXPECT_HAS(parse_error("\x89PNG\r\n"), "cfg.json: not valid JSON");
  EXPECT_HAS(parse_error("[1, 2]"), "cfg.json: expected a JSON object");
  EXPECT_HAS(parse_error("\"gpt_neox\""), "expected a JSON object");
  EXPECT_HAS(parse_error("null"), "expected a JSON object");

  for (const char* field : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                            "intermediate_size"}) {
    json j = tiny_config_json();
    j.erase(field);
    EXPECT_HAS(config_error(j), std::string("cfg.json: missing field '") + field + "'");
    j[field] = "16";
    EXPECT_HAS(config_error(j), std::string("field '") + field + "' must be an integer");
    j[field] = 16.5;
    EXPECT_HAS(config_error(j), std::string("field '") + field + "' must be an integer");
    j[field] = 0;
    EXPECT_HAS(config_error(j), std::string("field '") + field + "' = 0 is out of range");
    j[field] = -4;
    EXPECT_HAS(config_error(j), std::string("field '") + field + "' = -4 is out of range");
  }
  json j = tiny_config_json();
  j["num_attention_heads"] = 3;
  EXPECT_HAS(config_error(j), "hidden_size 16 is not a multiple of num_attention_heads 3");

  j = tiny_config_json();
  j["hidden_act"] = "relu";
  EXPECT_HAS(config_error(j), "hidden_act 'relu' is not supported");
  j["hidden_act"] = "gelu_new";  // tanh approximation: different numbers
  EXPECT_HAS(config_error(j), "hidden_act 'gelu_new'");
  j["hidden_act"] = 1;
  EXPECT_HAS(config_error(j), "'hidden_act' must be a string");

  j = tiny_config_json();
  j["model_type"] = "gpt2";
  EXPECT_HAS(config_error(j), "model_type 'gpt2' is not supported");
  j["model_type"] = 7;
  EXPECT_HAS(config_error(j), "model_type");

  j = tiny_config_json();
  j["use_parallel_residual"] = "true";
  EXPECT_HAS(config_error(j), "field 'use_parallel_residual' must be true or false");
  j = tiny_config_json();
  j["tie_word_embeddings"] = 1;
  EXPECT_HAS(config_error(j), "'tie_word_embeddings'");
  j = tiny_config_json();
  j["layer_norm_eps"] = "1e-5";
  EXPECT_HAS(config_error(j), "'layer_norm_eps' must be a number");
  j["layer_norm_eps"] = -1.0;
  EXPECT_HAS(config_error(j), "layer_norm_eps");
  j = tiny_config_json();
  j["rotary_pct"] = 1.5;
  EXPECT_HAS(config_error(j), "rotary_pct 1.5 must lie in [0, 1]");
  j["rotary_pct"] = 0.125;  // head_dim 8 -> 1 rotary dimension: cannot pair
  EXPECT_HAS(config_error(j), "must be even");
  j = tiny_config_json();
  j["rotary_emb_base"] = 0;
  EXPECT_HAS(config_error(j), "rotary base must be above 1");
  j = tiny_config_json();
  j["max_position_embeddings"] = "2048";
  EXPECT_HAS(config_error(j), "'max_position_embeddings' must be an integer");
  j = tiny_config_json();
  j["eos_token_id"] = {0, "x"};
  EXPECT_HAS(config_error(j), "eos_token_id");
  j["eos_token_id"] = "0";
  EXPECT_HAS(config_error(j), "eos_token_id");
}

TEST(Config, ThroughLoadGptneoxNamesTheFile) {
  TempDir d;
  ModelConfig cfg = tiny_config();
  write_model(d.path(), cfg, tiny_weights(cfg));
  const std::string path = d.file("config.json");
  test::write_file(path, "this is not json");
  std::string msg = error_of([&] { load_model(d.path()); });
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "not valid JSON");
  json j = tiny_config_json();
  j.erase("hidden_size");
  write_config(d.path(), j);
  EXPECT_HAS(error_of([&] { load_model(d.path()); }), path + ": missing field 'hidden_size'");
  fs::remove(path);
  fs::create_directory(path);  // a directory where the file should be
  EXPECT_FALSE(error_of([&] { load_model(d.path()); }).empty());
}

TEST(Config, EosTokenIdForms) {
  json j = tiny_config_json();
  j["eos_token_id"] = 5;
  EXPECT_EQ(ModelConfig::parse(j.dump(), "x").eos_token_ids, std::vector<int32_t>{5});
  j["eos_token_id"] = {1, 2};
  EXPECT_EQ(ModelConfig::parse(j.dump(), "x").eos_token_ids, (std::vector<int32_t>{1, 2}));
  j["eos_token_id"] = nullptr;  // no eos: nothing stops generation early
  EXPECT_TRUE(ModelConfig::parse(j.dump(), "x").eos_token_ids.empty());
}

}  // namespace
}  // namespace rcc
