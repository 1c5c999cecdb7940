#include "model/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"

namespace rcc {

using json = nlohmann::json;

namespace {

int64_t get_int(const json& j, const std::string& key, const std::string& src, int64_t lo,
                int64_t hi) {
  RCC_CHECK(j.contains(key), src, ": missing field '", key, "'");
  const json& v = j[key];
  RCC_CHECK(v.is_number_integer(), src, ": field '", key, "' must be an integer, got ", v.dump());
  int64_t x = v.get<int64_t>();
  RCC_CHECK(x >= lo && x <= hi, src, ": field '", key, "' = ", x, " is out of range [", lo, ", ",
            hi, "]");
  return x;
}

// The first of `keys` present (numbers), looking also inside an optional nested object.
bool find_number(const json& j, std::initializer_list<const char*> keys, const std::string& src,
                 double* out) {
  for (const char* k : keys) {
    if (j.contains(k) && !j[k].is_null()) {
      RCC_CHECK(j[k].is_number(), src, ": field '", k, "' must be a number, got ", j[k].dump());
      *out = j[k].get<double>();
      return true;
    }
  }
  return false;
}

bool get_bool(const json& j, const std::string& key, const std::string& src, bool dflt) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  RCC_CHECK(j[key].is_boolean(), src, ": field '", key, "' must be true or false, got ",
            j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

int64_t GPTNeoXConfig::parameter_count() const {
  int64_t H = hidden_size, I = intermediate_size;
  int64_t per_layer = 4 * H                                       // two layer norms
                      + 3 * H * H + (attention_bias ? 3 * H : 0)  // fused qkv
                      + H * H + (attention_bias ? H : 0)          // attention output
                      + I * H + I + H * I + H;                    // mlp
  return vocab_size * H + num_layers * per_layer + 2 * H +
         (tie_word_embeddings ? 0 : vocab_size * H);
}

GPTNeoXConfig GPTNeoXConfig::parse(const std::string& text, const std::string& src) {
  const json j = parse_json(text, src);
  RCC_CHECK(j.is_object(), src, ": expected a JSON object");
  if (j.contains("model_type") && !j["model_type"].is_null()) {
    RCC_CHECK(j["model_type"].is_string(), src, ": model_type must be a string, got ",
              j["model_type"].dump());
    std::string mt = j["model_type"].get<std::string>();
    RCC_CHECK(mt == "gpt_neox", src, ": model_type '", mt, "' is not supported (only gpt_neox)");
  }
  GPTNeoXConfig c;
  const int64_t kMax = int64_t(1) << 24;
  c.vocab_size = get_int(j, "vocab_size", src, 1, kMax);
  c.hidden_size = get_int(j, "hidden_size", src, 1, 1 << 16);
  c.num_layers = get_int(j, "num_hidden_layers", src, 1, 1024);
  c.num_heads = get_int(j, "num_attention_heads", src, 1, 1024);
  c.intermediate_size = get_int(j, "intermediate_size", src, 1, 1 << 20);
  RCC_CHECK(c.hidden_size % c.num_heads == 0, src, ": hidden_size ", c.hidden_size,
            " is not a multiple of num_attention_heads ", c.num_heads);
  // Rotary settings: Pythia spelling, newer top-level spelling, or transformers v5 rope_parameters.
  const json rope = j.contains("rope_parameters") && j["rope_parameters"].is_object()
                        ? j["rope_parameters"]
                        : json::object();
  if (!find_number(j, {"rotary_pct", "partial_rotary_factor"}, src, &c.rotary_pct))
    find_number(rope, {"partial_rotary_factor"}, src, &c.rotary_pct);
  if (!find_number(j, {"rotary_emb_base", "rope_theta"}, src, &c.rotary_base))
    find_number(rope, {"rope_theta"}, src, &c.rotary_base);
  // Scaled rotary embeddings (linear, dynamic, yarn, ...) change the numbers: refuse them.
  for (const char* k : {"rope_parameters", "rope_scaling"}) {
    if (!j.contains(k) || j[k].is_null()) continue;
    RCC_CHECK(j[k].is_object(), src, ": field '", k, "' must be an object, got ", j[k].dump());
    for (const char* t : {"rope_type", "type"})
      if (j[k].contains(t)) {
        const json& v = j[k][t];
        RCC_CHECK(v.is_string() && v.get<std::string>() == "default", src, ": ", k, ".", t, " ",
                  v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump(),
                  " is not supported (only the unscaled 'default' rotary embedding)");
      }
  }
  RCC_CHECK(c.rotary_pct >= 0 && c.rotary_pct <= 1, src, ": rotary_pct ", c.rotary_pct,
            " must lie in [0, 1]");
  RCC_CHECK(c.rotary_dims() % 2 == 0, src, ": rotary dimensions ", c.rotary_dims(),
            " (head_dim x rotary_pct) must be even");
  RCC_CHECK(c.rotary_base > 0, src, ": rotary base must be positive");
  find_number(j, {"layer_norm_eps"}, src, &c.layer_norm_eps);
  RCC_CHECK(c.layer_norm_eps > 0 && c.layer_norm_eps < 1, src, ": layer_norm_eps out of range");
  c.use_parallel_residual = get_bool(j, "use_parallel_residual", src, true);
  c.attention_bias = get_bool(j, "attention_bias", src, true);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", src, false);
  if (j.contains("max_position_embeddings"))
    c.max_position_embeddings = get_int(j, "max_position_embeddings", src, 1, int64_t(1) << 40);
  if (j.contains("hidden_act")) {
    RCC_CHECK(j["hidden_act"].is_string(), src, ": hidden_act must be a string");
    std::string act = j["hidden_act"].get<std::string>();
    RCC_CHECK(act == "gelu", src, ": hidden_act '", act,
              "' is not supported (GPT-NeoX/Pythia use exact 'gelu')");
  }
  for (const char* k : {"torch_dtype", "dtype"})
    if (j.contains(k) && j[k].is_string()) {
      c.torch_dtype = j[k].get<std::string>();
      break;
    }
  if (j.contains("eos_token_id")) {
    const json& e = j["eos_token_id"];
    // An end-of-sequence id outside the vocabulary could never be generated: generation would
    // never stop where the model means to.
    auto eos_id = [&](const json& x) {
      RCC_CHECK(x.is_number_integer(), src, ": eos_token_id entries must be integers");
      RCC_CHECK(x.get<int64_t>() >= 0 && x.get<int64_t>() < c.vocab_size, src, ": eos_token_id ",
                x.dump(), " is outside the vocabulary [0, ", c.vocab_size, ")");
      return x.get<int32_t>();
    };
    if (e.is_number_integer()) {
      c.eos_token_ids = {eos_id(e)};
    } else if (e.is_array()) {
      c.eos_token_ids.clear();
      for (const auto& x : e) c.eos_token_ids.push_back(eos_id(x));
    } else if (e.is_null()) {
      c.eos_token_ids.clear();  // no end-of-sequence token
    } else {
      fail(src, ": eos_token_id must be an integer or a list of integers, got ", e.dump());
    }
  }
  return c;
}

GPTNeoXConfig GPTNeoXConfig::load(const std::string& path) {
  return parse(read_text_file(path), path);
}

std::string GPTNeoXConfig::to_json() const {
  json j;
  j["architectures"] = {"GPTNeoXForCausalLM"};
  j["model_type"] = "gpt_neox";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["intermediate_size"] = intermediate_size;
  j["rotary_pct"] = rotary_pct;
  j["rotary_emb_base"] = rotary_base;
  j["layer_norm_eps"] = layer_norm_eps;
  j["use_parallel_residual"] = use_parallel_residual;
  j["attention_bias"] = attention_bias;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["max_position_embeddings"] = max_position_embeddings;
  j["hidden_act"] = "gelu";
  j["torch_dtype"] = torch_dtype;
  j["bos_token_id"] = 0;
  j["eos_token_id"] = eos_token_ids.size() == 1 ? json(eos_token_ids[0]) : json(eos_token_ids);
  return j.dump(2) + "\n";
}

}  // namespace rcc
