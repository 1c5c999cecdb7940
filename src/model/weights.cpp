#include "model/weights.h"

#include <map>

#include "io/checkpoint.h"
#include "ops/quant.h"

namespace rcc {

namespace {

// A vector or a matrix kept in its stored dtype (F32/BF16/F16); anything else is an error.
Tensor stored(const Checkpoint& c, const std::string& name, const Shape& shape) {
  Tensor t = c.get(name, shape);
  RCC_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16 || t.dtype() == DType::F16, c.dir(),
            ": tensor '", name, "' has dtype ", dtype_name(t.dtype()),
            ", expected F32, BF16 or F16");
  return t;
}

// A weight matrix of a linear layer: also q8 (ops/quant.h: I8 with an F16 "<name>_scale").
Tensor matrix(const Checkpoint& c, const std::string& name, const Shape& shape) {
  if (!c.contains(name) || c.dtype(name) != DType::I8) return stored(c, name, shape);
  const std::string sn = block_scale_name(name);
  RCC_CHECK(c.contains(sn), c.dir(), ": int8 tensor '", name, "' has no scales ('", sn, "')");
  Tensor q = c.get(name, shape);
  try {
    return q.with_block_scales(c.get(sn));
  } catch (const Error& e) {
    fail(c.dir(), ": tensor '", name, "': ", e.what());
  }
}

// Vectors are small: converted to f32 once.
Tensor vec(const Checkpoint& c, const std::string& name, int64_t n) {
  return stored(c, name, {n}).to(DType::F32);
}

}  // namespace

GPTNeoXWeights GPTNeoXWeights::load(const Checkpoint& c, const GPTNeoXConfig& cfg,
                                    const std::string& prefix, bool with_head) {
  const int64_t V = cfg.vocab_size, H = cfg.hidden_size, I = cfg.intermediate_size;
  const std::string g = prefix + "gpt_neox.";
  GPTNeoXWeights w;
  w.embed_in = stored(c, g + "embed_in.weight", {V, H});  // rows are looked up: never q8
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string p = g + "layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.ln1_w = vec(c, p + "input_layernorm.weight", H);
    l.ln1_b = vec(c, p + "input_layernorm.bias", H);
    l.qkv_w = matrix(c, p + "attention.query_key_value.weight", {3 * H, H});
    l.dense_w = matrix(c, p + "attention.dense.weight", {H, H});
    if (cfg.attention_bias) {
      l.qkv_b = vec(c, p + "attention.query_key_value.bias", 3 * H);
      l.dense_b = vec(c, p + "attention.dense.bias", H);
    }
    l.ln2_w = vec(c, p + "post_attention_layernorm.weight", H);
    l.ln2_b = vec(c, p + "post_attention_layernorm.bias", H);
    l.fc_in_w = matrix(c, p + "mlp.dense_h_to_4h.weight", {I, H});
    l.fc_in_b = vec(c, p + "mlp.dense_h_to_4h.bias", I);
    l.fc_out_w = matrix(c, p + "mlp.dense_4h_to_h.weight", {H, I});
    l.fc_out_b = vec(c, p + "mlp.dense_4h_to_h.bias", H);
    w.layers.push_back(std::move(l));
  }
  w.final_ln_w = vec(c, g + "final_layer_norm.weight", H);
  w.final_ln_b = vec(c, g + "final_layer_norm.bias", H);
  if (with_head) {
    const std::string head = prefix + "embed_out.weight";
    if (cfg.tie_word_embeddings && !c.contains(head))
      w.embed_out = w.embed_in;
    else
      w.embed_out = matrix(c, head, {V, H});
  }
  return w;
}

void GPTNeoXWeights::visit(const std::string& prefix,
                           const std::function<void(const std::string&, Tensor&)>& f) {
  const std::string g = prefix + "gpt_neox.";
  auto visit_one = [&](const std::string& name, Tensor& t) {
    if (t.defined()) f(name, t);
  };
  visit_one(g + "embed_in.weight", embed_in);
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = g + "layers." + std::to_string(i) + ".";
    LayerWeights& l = layers[i];
    visit_one(p + "input_layernorm.weight", l.ln1_w);
    visit_one(p + "input_layernorm.bias", l.ln1_b);
    visit_one(p + "attention.query_key_value.weight", l.qkv_w);
    visit_one(p + "attention.query_key_value.bias", l.qkv_b);
    visit_one(p + "attention.dense.weight", l.dense_w);
    visit_one(p + "attention.dense.bias", l.dense_b);
    visit_one(p + "post_attention_layernorm.weight", l.ln2_w);
    visit_one(p + "post_attention_layernorm.bias", l.ln2_b);
    visit_one(p + "mlp.dense_h_to_4h.weight", l.fc_in_w);
    visit_one(p + "mlp.dense_h_to_4h.bias", l.fc_in_b);
    visit_one(p + "mlp.dense_4h_to_h.weight", l.fc_out_w);
    visit_one(p + "mlp.dense_4h_to_h.bias", l.fc_out_b);
  }
  visit_one(g + "final_layer_norm.weight", final_ln_w);
  visit_one(g + "final_layer_norm.bias", final_ln_b);
  visit_one(prefix + "embed_out.weight", embed_out);
}

int64_t quantize_linear_weights(std::vector<std::pair<std::string, Tensor>>& named) {
  static const char* const kLinear[] = {"attention.query_key_value.weight",
                                        "attention.dense.weight", "mlp.dense_h_to_4h.weight",
                                        "mlp.dense_4h_to_h.weight", "embed_out.weight"};
  int64_t n = 0;
  for (auto& [name, t] : named) {
    bool linear = false;
    for (const char* suffix : kLinear) {
      const std::string sfx = suffix;
      linear |=
          name.size() >= sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0;
    }
    if (linear && ops::q8_eligible(t)) {
      t = ops::quantize_q8(t);
      ++n;
    }
  }
  return n;
}

int64_t GPTNeoXWeights::quantize_linear_q8() {
  auto list = named();
  const int64_t n = quantize_linear_weights(list);
  std::map<std::string, Tensor> by_name(list.begin(), list.end());
  visit("", [&](const std::string& name, Tensor& t) { t = by_name.at(name); });
  return n;
}

std::vector<std::pair<std::string, Tensor>> GPTNeoXWeights::named(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> r;
  // visit() only reads through the copy; the returned tensors share storage with this struct's.
  GPTNeoXWeights copy = *this;
  copy.visit(prefix, [&](const std::string& name, Tensor& t) { r.emplace_back(name, t); });
  return r;
}

}  // namespace rcc
