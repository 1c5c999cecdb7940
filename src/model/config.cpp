#include "model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "ops/rotary.h"

namespace rcc {

using json = nlohmann::json;

namespace {

bool present(const json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

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

// The first of `keys` present (numbers).
bool find_number(const json& j, std::initializer_list<const char*> keys, const std::string& src,
                 double* out) {
  for (const char* k : keys) {
    if (present(j, k)) {
      RCC_CHECK(j[k].is_number(), src, ": field '", k, "' must be a number, got ", j[k].dump());
      *out = j[k].get<double>();
      RCC_CHECK(std::isfinite(*out), src, ": field '", k, "' must be finite");
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

std::string get_string(const json& j, const char* key, const std::string& src) {
  RCC_CHECK(j[key].is_string(), src, ": field '", key, "' must be a string, got ", j[key].dump());
  return j[key].get<std::string>();
}

bool known_type(const std::string& t) {
  return t == "gpt_neox" || t == "llama" || t == "qwen2" || t == "qwen3" || t == "mistral";
}

// Rotary settings: Pythia spelling, the newer top-level spelling, or transformers 5's
// rope_parameters; scaling from rope_scaling or rope_parameters.
void parse_rope(const json& j, const std::string& src, ModelConfig& c) {
  const json rope = present(j, "rope_parameters") ? j["rope_parameters"] : json::object();
  RCC_CHECK(rope.is_object(), src, ": rope_parameters must be an object, got ", rope.dump());
  if (!find_number(j, {"rotary_pct", "partial_rotary_factor"}, src, &c.rotary_pct))
    find_number(rope, {"partial_rotary_factor"}, src, &c.rotary_pct);
  if (!find_number(j, {"rotary_emb_base", "rope_theta"}, src, &c.rotary_base))
    find_number(rope, {"rope_theta"}, src, &c.rotary_base);
  for (const char* k : {"rope_parameters", "rope_scaling"}) {
    if (!present(j, k)) continue;
    const json& r = j[k];
    RCC_CHECK(r.is_object(), src, ": field '", k, "' must be an object, got ", r.dump());
    std::string type = "default";
    for (const char* t : {"rope_type", "type"})
      if (present(r, t)) type = get_string(r, t, src + ": " + k);
    const std::string where = src + ": " + k;
    if (type == "default") continue;
    double v = 0;
    if (type == "linear") {
      c.rope_scaling.type = RopeScaling::Type::Linear;
    } else if (type == "llama3") {
      c.rope_scaling.type = RopeScaling::Type::Llama3;
      RCC_CHECK(find_number(r, {"low_freq_factor"}, where, &c.rope_scaling.low_freq_factor) &&
                    find_number(r, {"high_freq_factor"}, where, &c.rope_scaling.high_freq_factor),
                where, ": llama3 scaling needs low_freq_factor and high_freq_factor");
      RCC_CHECK(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor &&
                    c.rope_scaling.low_freq_factor > 0,
                where, ": llama3 scaling needs 0 < low_freq_factor < high_freq_factor");
      c.rope_scaling.original_max_position_embeddings =
          get_int(r, "original_max_position_embeddings", where, 1, int64_t(1) << 40);
    } else {
      fail(where, ".rope_type '", type,
           "' is not supported (default, linear and llama3 rotary embeddings are)");
    }
    RCC_CHECK(find_number(r, {"factor"}, where, &v) && v >= 1, where,
              ": rotary scaling needs a factor >= 1");
    c.rope_scaling.factor = v;
  }
  RCC_CHECK(c.rotary_pct >= 0 && c.rotary_pct <= 1, src, ": rotary_pct ", c.rotary_pct,
            " must lie in [0, 1]");
  RCC_CHECK(c.rotary_dims() % 2 == 0, src, ": rotary dimensions ", c.rotary_dims(),
            " (head_dim x rotary_pct) must be even");
  RCC_CHECK(c.rotary_base > 1, src, ": rotary base must be above 1");
}

// Which layers a sliding window applies to: transformers 5's layer_types, else Qwen's
// use_sliding_window / max_window_layers, else (Mistral) every layer.
void parse_window(const json& j, const std::string& src, ModelConfig& c) {
  const bool qwen = c.model_type == "qwen2" || c.model_type == "qwen3";
  if (present(j, "sliding_window") && (!qwen || get_bool(j, "use_sliding_window", src, false)))
    c.sliding_window = get_int(j, "sliding_window", src, 1, int64_t(1) << 40);
  if (present(j, "layer_types")) {
    const json& t = j["layer_types"];
    RCC_CHECK(t.is_array() && int64_t(t.size()) == c.num_layers, src,
              ": layer_types must list one entry per layer (", c.num_layers, ")");
    bool any = false;
    for (const json& e : t) {
      RCC_CHECK(e.is_string(), src, ": layer_types entries must be strings");
      const std::string s = e.get<std::string>();
      RCC_CHECK(s == "full_attention" || s == "sliding_attention", src, ": layer type '", s,
                "' is not supported (full_attention, sliding_attention)");
      c.sliding_layers.push_back(s == "sliding_attention");
      any |= s == "sliding_attention";
    }
    RCC_CHECK(!any || c.sliding_window > 0, src,
              ": layer_types has sliding layers but no sliding_window");
    if (!any) c.sliding_window = 0;
  } else if (qwen && c.sliding_window > 0) {
    // transformers' default is 28; a value past the last layer means no layer slides.
    const int64_t first = present(j, "max_window_layers")
                              ? get_int(j, "max_window_layers", src, 0, int64_t(1) << 30)
                              : 28;
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers.push_back(i >= first);
  }
}

void parse_eos(const json& j, const std::string& src, ModelConfig& c) {
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = get_int(j, "bos_token_id", src, 0, c.vocab_size - 1);
  if (!j.contains("eos_token_id")) return;
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

}  // namespace

AttentionShape ModelConfig::attention(int64_t layer) const {
  AttentionShape s;
  s.heads = num_heads;
  s.kv_heads = kv_heads();
  s.hd = head_dim();
  s.interleaved = !llama_family();
  const bool slides = sliding_layers.empty() || sliding_layers[size_t(layer)];
  s.window = slides ? sliding_window : 0;
  return s;
}

Rope ModelConfig::rope() const {
  Rope r = ops::default_rope(rotary_dims(), rotary_base);
  r.scaled = rope_scaling.type != RopeScaling::Type::None;
  // The scaling in f32 as transformers computes it (_compute_linear_scaling_rope_parameters,
  // _compute_llama3_parameters).
  const float factor = float(rope_scaling.factor);
  const float lff = float(rope_scaling.low_freq_factor), hff = float(rope_scaling.high_freq_factor);
  const float old = float(rope_scaling.original_max_position_embeddings);
  const float low_wavelen = old / lff, high_wavelen = old / hff;
  for (float& inv : r.inv_freq) {
    if (rope_scaling.type == RopeScaling::Type::Linear) {
      inv = inv / factor;
    } else if (rope_scaling.type == RopeScaling::Type::Llama3) {
      const float wavelen = 2.0f * float(M_PI) / inv;
      const float scaled = wavelen > low_wavelen ? inv / factor : inv;
      const float smooth = (old / wavelen - lff) / (hff - lff);
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      inv = medium ? (1.0f - smooth) * scaled / factor + smooth * scaled : scaled;
    }
  }
  return r;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t H = hidden_size, I = intermediate_size, hd = head_dim();
  const int64_t norm = rms_norm ? H : 2 * H;
  int64_t per_layer = 2 * norm + qkv_width() * H + (qkv_bias ? qkv_width() : 0)  // qkv
                      + H * q_width() + (out_bias ? H : 0)                       // output
                      + mlp_in_rows() * H + (mlp_bias ? mlp_in_rows() : 0)       // mlp in
                      + H * I + (mlp_bias ? H : 0)                               // mlp out
                      + (qk_norm ? 2 * hd : 0);
  return vocab_size * H + num_layers * per_layer + norm +
         (tie_word_embeddings ? 0 : vocab_size * H);
}

ModelConfig ModelConfig::parse(const std::string& text, const std::string& src) {
  const json j = parse_json(text, src);
  RCC_CHECK(j.is_object(), src, ": expected a JSON object");
  ModelConfig c;
  if (present(j, "model_type")) {
    c.model_type = get_string(j, "model_type", src);
    RCC_CHECK(known_type(c.model_type), src, ": model_type '", c.model_type,
              "' is not supported (gpt_neox, llama, qwen2, qwen3, mistral)");
  }
  const bool llama = c.llama_family();
  const int64_t kMax = int64_t(1) << 24;
  c.vocab_size = get_int(j, "vocab_size", src, 1, kMax);
  c.hidden_size = get_int(j, "hidden_size", src, 1, 1 << 16);
  c.num_layers = get_int(j, "num_hidden_layers", src, 1, 1024);
  c.num_heads = get_int(j, "num_attention_heads", src, 1, 1024);
  c.intermediate_size = get_int(j, "intermediate_size", src, 1, 1 << 20);
  if (present(j, "num_key_value_heads"))
    c.num_kv_heads = get_int(j, "num_key_value_heads", src, 1, c.num_heads);
  // GPT-NeoX's fused [heads, 3, hd] rows have one key/value head per query head and no head_dim
  // of their own.
  RCC_CHECK(llama || c.kv_heads() == c.num_heads, src, ": num_key_value_heads ", c.kv_heads(),
            " != num_attention_heads ", c.num_heads, ": gpt_neox has no grouped-query attention");
  RCC_CHECK(c.num_heads % c.kv_heads() == 0, src, ": num_attention_heads ", c.num_heads,
            " is not a multiple of num_key_value_heads ", c.kv_heads());
  if (present(j, "head_dim") && llama)
    c.head_dim_override = get_int(j, "head_dim", src, 2, 4096);
  else if (c.model_type == "qwen3")
    c.head_dim_override = 128;  // transformers' Qwen3 default
  if (!llama || c.head_dim_override == 0)
    RCC_CHECK(c.hidden_size % c.num_heads == 0, src, ": hidden_size ", c.hidden_size,
              " is not a multiple of num_attention_heads ", c.num_heads);
  if (llama) {
    c.rotary_pct = 1.0;
    c.norm_eps = 1e-6;
    c.rms_norm = c.gated_mlp = true;
    c.use_parallel_residual = false;
    const bool bias = get_bool(j, "attention_bias", src, false);
    c.qkv_bias = c.model_type == "qwen2" || bias;
    c.out_bias = c.model_type != "qwen2" && bias;
    c.mlp_bias = c.model_type == "llama" && get_bool(j, "mlp_bias", src, false);
    c.qk_norm = c.model_type == "qwen3";
    if (j.contains("pretraining_tp") && !j["pretraining_tp"].is_null())
      RCC_CHECK(get_int(j, "pretraining_tp", src, 1, 1) == 1, src, ": pretraining_tp must be 1");
  }
  parse_rope(j, src, c);
  RCC_CHECK(!llama || c.rotary_pct == 1.0, src, ": partial_rotary_factor ", c.rotary_pct,
            " is not supported for ", c.model_type, " (every dimension rotates)");
  const char* eps_key = llama ? "rms_norm_eps" : "layer_norm_eps";
  find_number(j, {eps_key}, src, &c.norm_eps);
  RCC_CHECK(c.norm_eps > 0 && c.norm_eps < 1, src, ": ", eps_key, " ", c.norm_eps,
            " is out of range (0, 1)");
  if (!llama) {
    c.use_parallel_residual = get_bool(j, "use_parallel_residual", src, true);
    c.qkv_bias = c.out_bias = get_bool(j, "attention_bias", src, true);
  }
  if (llama) parse_window(j, src, c);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", src, false);
  if (j.contains("max_position_embeddings"))
    c.max_position_embeddings = get_int(j, "max_position_embeddings", src, 1, int64_t(1) << 40);
  if (present(j, "hidden_act")) {
    const std::string act = get_string(j, "hidden_act", src), want = llama ? "silu" : "gelu";
    RCC_CHECK(act == want, src, ": hidden_act '", act, "' is not supported (", c.model_type,
              " models here use '", want, "')");
  }
  for (const char* k : {"torch_dtype", "dtype"})
    if (j.contains(k) && j[k].is_string()) {
      c.torch_dtype = j[k].get<std::string>();
      break;
    }
  parse_eos(j, src, c);
  return c;
}

ModelConfig ModelConfig::load(const std::string& path) {
  return parse(read_text_file(path), path);
}

std::string ModelConfig::to_json() const {
  json j;
  const bool llama = llama_family();
  static const std::pair<const char*, const char*> kArch[] = {{"gpt_neox", "GPTNeoXForCausalLM"},
                                                              {"llama", "LlamaForCausalLM"},
                                                              {"qwen2", "Qwen2ForCausalLM"},
                                                              {"qwen3", "Qwen3ForCausalLM"},
                                                              {"mistral", "MistralForCausalLM"}};
  for (const auto& [type, arch] : kArch)
    if (model_type == type) j["architectures"] = {arch};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["intermediate_size"] = intermediate_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(0);
  j["eos_token_id"] = eos_token_ids.size() == 1 ? json(eos_token_ids[0]) : json(eos_token_ids);
  if (rope_scaling.type != RopeScaling::Type::None) {
    json s;
    s["factor"] = rope_scaling.factor;
    if (rope_scaling.type == RopeScaling::Type::Linear) {
      s["rope_type"] = "linear";
    } else {
      s["rope_type"] = "llama3";
      s["low_freq_factor"] = rope_scaling.low_freq_factor;
      s["high_freq_factor"] = rope_scaling.high_freq_factor;
      s["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = s;
  }
  if (!llama) {
    j["rotary_pct"] = rotary_pct;
    j["rotary_emb_base"] = rotary_base;
    j["layer_norm_eps"] = norm_eps;
    j["use_parallel_residual"] = use_parallel_residual;
    j["attention_bias"] = qkv_bias;
    j["hidden_act"] = "gelu";
    return j.dump(2) + "\n";
  }
  j["num_key_value_heads"] = kv_heads();
  j["head_dim"] = head_dim();
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = norm_eps;
  j["rope_theta"] = rotary_base;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  if (model_type != "qwen2") j["attention_bias"] = qkv_bias;
  if (sliding_window > 0) {
    j["sliding_window"] = sliding_window;
    if (model_type != "mistral") j["use_sliding_window"] = true;
  } else {
    j["sliding_window"] = nullptr;
  }
  if (!sliding_layers.empty()) {
    json t = json::array();
    for (bool s : sliding_layers) t.push_back(s ? "sliding_attention" : "full_attention");
    j["layer_types"] = t;
  }
  return j.dump(2) + "\n";
}

}  // namespace rcc
