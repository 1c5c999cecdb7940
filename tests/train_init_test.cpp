// Where training starts (train/model_init.h): a new model from a config, or encoder and decoder
// both from one GPT-NeoX checkpoint with the projections by rule.
#include <gtest/gtest.h>

#include <cmath>

#include "model/load.h"
#include "test_util.h"
#include "train/model_init.h"

namespace rcc {
namespace {

TEST(TrainInit, FromOneGPTNeoXCheckpoint) {
  const std::string dir = test::fixture("gptneox/parallel-f32");
  ModelInit m;
  m.kind = "gpt_neox";
  m.from = dir;
  m.projections = "identity";
  const RCCModel r = init_training_model(m, 10);
  const Transformer base = load_model(dir);
  const auto want = base.weights().named();
  const auto dec = r.decoder.weights().named(), enc = r.encoder.weights().named();
  ASSERT_EQ(dec.size(), want.size());
  ASSERT_EQ(enc.size(), want.size() - 1);  // no LM head in the encoder
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(dec[i].first, want[i].first);
    EXPECT_EQ(dec[i].second.dtype(), DType::F32);
    EXPECT_EQ(dec[i].second.to_vector(), want[i].second.to_vector()) << want[i].first;
    if (i < enc.size()) {
      EXPECT_EQ(enc[i].second.to_vector(), want[i].second.to_vector()) << want[i].first;
      // Separate storage: training one network leaves the other alone.
      EXPECT_NE(enc[i].second.raw(), dec[i].second.raw()) << want[i].first;
    }
  }
  // identity rule: E = I, A_i = 0.
  const int64_t H = r.hidden();
  const std::vector<float> E = r.embed_proj.to_vector();
  for (int64_t a = 0; a < H; ++a)
    for (int64_t b = 0; b < H; ++b) ASSERT_EQ(E[size_t(a * H + b)], a == b ? 1.0f : 0.0f);
  ASSERT_EQ(int64_t(r.layer_proj.size()), r.layers());
  for (const Tensor& A : r.layer_proj)
    for (float v : A.to_vector()) ASSERT_EQ(v, 0.0f);
  // A vocabulary larger than the checkpoint's is refused.
  EXPECT_THROW(init_training_model(m, base.config().vocab_size + 1), Error);
}

TEST(TrainInit, RandomFromConfig) {
  ModelInit m;
  m.config.hidden_size = 32;
  m.config.num_layers = 2;
  m.config.num_heads = 4;
  m.config.intermediate_size = 64;
  m.config.vocab_size = 0;  // auto
  m.init_std = 0.05;
  m.rcc.window = 16;
  m.rcc.ratio = 4;
  const RCCModel r = init_training_model(m, 50);
  EXPECT_EQ(r.decoder.config().vocab_size, 50);
  EXPECT_FALSE(r.encoder.weights().embed_out.defined());
  auto stddev = [](const Tensor& t) {
    double s = 0;
    for (float v : t.to_vector()) s += double(v) * v;
    return std::sqrt(s / double(t.numel()));
  };
  EXPECT_NEAR(stddev(r.decoder.weights().layers[0].fc_in_w), 0.05, 0.005);
  EXPECT_NEAR(stddev(r.encoder.weights().layers[1].qkv_w), 0.05, 0.005);
  EXPECT_NEAR(stddev(r.embed_proj), 1.0 / std::sqrt(32.0), 0.02);  // "normal" rule
  EXPECT_EQ(r.decoder.weights().layers[0].ln1_w.to_vector(), std::vector<float>(32, 1.0f));
  EXPECT_EQ(r.settings.window, 16);
  // Encoder and decoder are initialised differently.
  EXPECT_NE(r.decoder.weights().embed_in.to_vector(), r.encoder.weights().embed_in.to_vector());
}

}  // namespace
}  // namespace rcc
