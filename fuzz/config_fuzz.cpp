// libFuzzer target: arbitrary bytes as a model's config.json (model/config.h, ModelConfig::parse,
// which ModelConfig::load and every model loader call on the file's text).
// Contract: parse either returns a config or throws rcc::Error; any other exception, a crash, a
// sanitizer report or a leak is a finding. A config that parses must satisfy what the model code
// relies on (positive sizes, a head geometry its family can run — GPT-NeoX: hidden size a
// multiple of the heads, one key/value head per head; the Llama family: heads a multiple of the
// key/value heads —, even rotary dimensions within the head, end-of-sequence ids inside the
// vocabulary), give a parameter count without overflow,
// and survive its own to_json(): writing it and parsing that again gives the same config.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "model/config.h"

namespace {
constexpr const char* kTarget = "config_fuzz";

bool same(const rcc::ModelConfig& a, const rcc::ModelConfig& b) {
  bool windows = a.num_layers == b.num_layers;
  for (int64_t l = 0; windows && l < a.num_layers; ++l)
    windows = a.attention(l).window == b.attention(l).window;
  return a.model_type == b.model_type && a.vocab_size == b.vocab_size &&
         a.hidden_size == b.hidden_size && a.num_layers == b.num_layers &&
         a.num_heads == b.num_heads && a.kv_heads() == b.kv_heads() &&
         a.head_dim() == b.head_dim() && a.intermediate_size == b.intermediate_size &&
         a.rotary_pct == b.rotary_pct && a.rotary_base == b.rotary_base &&
         a.rope().inv_freq == b.rope().inv_freq && a.norm_eps == b.norm_eps &&
         a.rms_norm == b.rms_norm && a.gated_mlp == b.gated_mlp &&
         a.use_parallel_residual == b.use_parallel_residual && a.qkv_bias == b.qkv_bias &&
         a.out_bias == b.out_bias && a.mlp_bias == b.mlp_bias && a.qk_norm == b.qk_norm &&
         windows && a.tie_word_embeddings == b.tie_word_embeddings &&
         a.max_position_embeddings == b.max_position_embeddings && a.torch_dtype == b.torch_dtype &&
         a.eos_token_ids == b.eos_token_ids;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ModelConfig c;
  if (!fuzz::expect_rcc_errors(kTarget, [&] { c = ModelConfig::parse(text, "config.json"); }))
    return 0;
  FUZZ_REQUIRE(kTarget,
               c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 &&
                   c.intermediate_size > 0,
               "a size is not positive");
  FUZZ_REQUIRE(
      kTarget,
      c.kv_heads() > 0 && c.num_heads % c.kv_heads() == 0 && c.head_dim() > 0 &&
          (c.llama_family() || (c.hidden_size % c.num_heads == 0 && c.kv_heads() == c.num_heads)),
      "head geometry the model cannot run");
  FUZZ_REQUIRE(kTarget,
               c.rotary_dims() >= 0 && c.rotary_dims() <= c.head_dim() && c.rotary_dims() % 2 == 0,
               "rotary dimensions outside the head or odd");
  FUZZ_REQUIRE(kTarget, c.rotary_base > 0 && c.norm_eps > 0, "rotary base or eps not positive");
  for (int32_t id : c.eos_token_ids)
    FUZZ_REQUIRE(kTarget, id >= 0 && id < c.vocab_size, "eos id outside the vocabulary");
  FUZZ_REQUIRE(kTarget, c.parameter_count() > 0, "parameter count not positive");
  ModelConfig again;
  const bool reparsed =
      fuzz::expect_rcc_errors(kTarget, [&] { again = ModelConfig::parse(c.to_json(), "again"); });
  FUZZ_REQUIRE(kTarget, reparsed, "to_json() of a parsed config does not parse");
  FUZZ_REQUIRE(kTarget, same(c, again), "to_json() then parse() changed the config");
  return 0;
}
