#include "model/weights.h"

#include <cstring>
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

// The checkpoint names of a layer's tensors, by family (GPT-NeoX, Llama).
struct LayerNames {
  const char *ln1_w, *ln1_b, *qkv_w, *qkv_b, *dense_w, *dense_b, *q_norm, *k_norm, *ln2_w, *ln2_b,
      *fc_in_w, *fc_in_b, *fc_out_w, *fc_out_b;
};
constexpr LayerNames kNeoXLayer = {"input_layernorm.weight",
                                   "input_layernorm.bias",
                                   "attention.query_key_value.weight",
                                   "attention.query_key_value.bias",
                                   "attention.dense.weight",
                                   "attention.dense.bias",
                                   "",
                                   "",
                                   "post_attention_layernorm.weight",
                                   "post_attention_layernorm.bias",
                                   "mlp.dense_h_to_4h.weight",
                                   "mlp.dense_h_to_4h.bias",
                                   "mlp.dense_4h_to_h.weight",
                                   "mlp.dense_4h_to_h.bias"};
constexpr LayerNames kLlamaLayer = {"input_layernorm.weight",
                                    "",
                                    "self_attn.qkv_proj.weight",
                                    "self_attn.qkv_proj.bias",
                                    "self_attn.o_proj.weight",
                                    "self_attn.o_proj.bias",
                                    "self_attn.q_norm.weight",
                                    "self_attn.k_norm.weight",
                                    "post_attention_layernorm.weight",
                                    "",
                                    "mlp.gate_up_proj.weight",
                                    "mlp.gate_up_proj.bias",
                                    "mlp.down_proj.weight",
                                    "mlp.down_proj.bias"};
struct ModelNames {
  const char *body, *embed, *final_w, *final_b, *head;
  const LayerNames& layer;
};
const ModelNames kNeoX = {
    "gpt_neox.",        "embed_in.weight", "final_layer_norm.weight", "final_layer_norm.bias",
    "embed_out.weight", kNeoXLayer};
const ModelNames kLlama = {"model.", "embed_tokens.weight", "norm.weight",
                           "",       "lm_head.weight",      kLlamaLayer};

// Tensors stacked along dimension 0 (one dtype; vectors or matrices of one width): the fused
// qkv and gate/up of a checkpoint that stores them apart.
Tensor concat_rows(const std::vector<Tensor>& parts, const std::string& what) {
  Shape shape = parts[0].shape();
  shape[0] = 0;
  for (const Tensor& t : parts) {
    RCC_CHECK(!t.quantized(), what, ": int8 pieces cannot be fused (store them fused)");
    RCC_CHECK(t.dtype() == parts[0].dtype() && t.ndim() == parts[0].ndim() &&
                  (t.ndim() == 1 || t.dim(1) == parts[0].dim(1)),
              what, ": pieces of different dtype or width");
    shape[0] += t.dim(0);
  }
  Tensor out = Tensor::empty(parts[0].dtype(), shape);
  char* dst = static_cast<char*>(out.raw());
  for (const Tensor& t : parts) {
    std::memcpy(dst, t.raw(), t.nbytes());
    dst += t.nbytes();
  }
  return out;
}

// A fused tensor stored whole under `fused`, or in `pieces` (names, row counts) as Hugging Face
// writes the Llama family: loaded by `get(name, rows)` and stacked.
template <class Get>
Tensor fused_or_pieces(const Checkpoint& c, const std::string& fused, int64_t rows,
                       const std::vector<std::pair<std::string, int64_t>>& pieces, Get get) {
  if (c.contains(fused) || !c.contains(pieces[0].first)) return get(fused, rows);
  std::vector<Tensor> parts;
  int64_t total = 0;
  for (const auto& [name, n] : pieces) {
    parts.push_back(get(name, n));
    total += n;
  }
  RCC_CHECK(total == rows, c.dir(), ": '", fused, "' pieces add up to ", total, " rows, not ",
            rows);
  return concat_rows(parts, c.dir() + ": " + fused);
}

}  // namespace

ModelWeights ModelWeights::load(const Checkpoint& c, const ModelConfig& cfg,
                                const std::string& prefix, bool with_head) {
  const int64_t V = cfg.vocab_size, H = cfg.hidden_size, I = cfg.intermediate_size;
  const int64_t Q = cfg.q_width(), KV = cfg.kv_width(), QKV = cfg.qkv_width(),
                M = cfg.mlp_in_rows(), hd = cfg.head_dim();
  const ModelNames& nm = cfg.llama_family() ? kLlama : kNeoX;
  const LayerNames& ln = nm.layer;
  const std::string g = prefix + nm.body;
  ModelWeights w;
  w.llama = cfg.llama_family();
  w.embed_in = stored(c, g + nm.embed, {V, H});  // rows are looked up: never q8
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    return matrix(c, name, {rows, cols});
  };
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string p = g + "layers." + std::to_string(i) + ".";
    const std::string a = p + "self_attn.", m = p + "mlp.";
    LayerWeights l;
    l.ln1_w = vec(c, p + ln.ln1_w, H);
    l.ln2_w = vec(c, p + ln.ln2_w, H);
    if (!cfg.rms_norm) {
      l.ln1_b = vec(c, p + ln.ln1_b, H);
      l.ln2_b = vec(c, p + ln.ln2_b, H);
    }
    const std::vector<std::pair<std::string, int64_t>> qkv = {
        {a + "q_proj.weight", Q}, {a + "k_proj.weight", KV}, {a + "v_proj.weight", KV}};
    const std::vector<std::pair<std::string, int64_t>> qkv_b = {
        {a + "q_proj.bias", Q}, {a + "k_proj.bias", KV}, {a + "v_proj.bias", KV}};
    const std::vector<std::pair<std::string, int64_t>> gate_up = {{m + "gate_proj.weight", I},
                                                                  {m + "up_proj.weight", I}};
    const std::vector<std::pair<std::string, int64_t>> gate_up_b = {{m + "gate_proj.bias", I},
                                                                    {m + "up_proj.bias", I}};
    auto row_mat = [&](int64_t cols) {
      return [&, cols](const std::string& name, int64_t rows) { return mat(name, rows, cols); };
    };
    auto row_vec = [&](const std::string& name, int64_t n) { return vec(c, name, n); };
    l.qkv_w = fused_or_pieces(c, p + ln.qkv_w, QKV, qkv, row_mat(H));
    if (cfg.qkv_bias) l.qkv_b = fused_or_pieces(c, p + ln.qkv_b, QKV, qkv_b, row_vec);
    l.dense_w = mat(p + ln.dense_w, H, Q);
    if (cfg.out_bias) l.dense_b = vec(c, p + ln.dense_b, H);
    if (cfg.qk_norm) {
      l.q_norm_w = vec(c, p + ln.q_norm, hd);
      l.k_norm_w = vec(c, p + ln.k_norm, hd);
    }
    l.fc_in_w = cfg.gated_mlp ? fused_or_pieces(c, p + ln.fc_in_w, M, gate_up, row_mat(H))
                              : mat(p + ln.fc_in_w, M, H);
    if (cfg.mlp_bias)
      l.fc_in_b = cfg.gated_mlp ? fused_or_pieces(c, p + ln.fc_in_b, M, gate_up_b, row_vec)
                                : vec(c, p + ln.fc_in_b, M);
    l.fc_out_w = mat(p + ln.fc_out_w, H, I);
    if (cfg.mlp_bias) l.fc_out_b = vec(c, p + ln.fc_out_b, H);
    w.layers.push_back(std::move(l));
  }
  w.final_ln_w = vec(c, g + nm.final_w, H);
  if (!cfg.rms_norm) w.final_ln_b = vec(c, g + nm.final_b, H);
  if (with_head) {
    const std::string head = prefix + nm.head;
    if (cfg.tie_word_embeddings && !c.contains(head))
      w.embed_out = w.embed_in;
    else
      w.embed_out = matrix(c, head, {V, H});
  }
  return w;
}

void ModelWeights::visit(const std::string& prefix,
                         const std::function<void(const std::string&, Tensor&)>& f) {
  const ModelNames& nm = llama ? kLlama : kNeoX;
  const LayerNames& ln = nm.layer;
  const std::string g = prefix + nm.body;
  auto visit_one = [&](const std::string& name, Tensor& t) {
    if (t.defined()) f(name, t);
  };
  visit_one(g + nm.embed, embed_in);
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = g + "layers." + std::to_string(i) + ".";
    LayerWeights& l = layers[i];
    visit_one(p + ln.ln1_w, l.ln1_w);
    visit_one(p + ln.ln1_b, l.ln1_b);
    visit_one(p + ln.qkv_w, l.qkv_w);
    visit_one(p + ln.qkv_b, l.qkv_b);
    visit_one(p + ln.dense_w, l.dense_w);
    visit_one(p + ln.dense_b, l.dense_b);
    visit_one(p + ln.q_norm, l.q_norm_w);
    visit_one(p + ln.k_norm, l.k_norm_w);
    visit_one(p + ln.ln2_w, l.ln2_w);
    visit_one(p + ln.ln2_b, l.ln2_b);
    visit_one(p + ln.fc_in_w, l.fc_in_w);
    visit_one(p + ln.fc_in_b, l.fc_in_b);
    visit_one(p + ln.fc_out_w, l.fc_out_w);
    visit_one(p + ln.fc_out_b, l.fc_out_b);
  }
  visit_one(g + nm.final_w, final_ln_w);
  visit_one(g + nm.final_b, final_ln_b);
  visit_one(prefix + nm.head, embed_out);
}

int64_t quantize_linear_weights(std::vector<std::pair<std::string, Tensor>>& named) {
  static const char* const kLinear[] = {"attention.query_key_value.weight",
                                        "attention.dense.weight",
                                        "mlp.dense_h_to_4h.weight",
                                        "mlp.dense_4h_to_h.weight",
                                        "embed_out.weight",
                                        "self_attn.qkv_proj.weight",
                                        "self_attn.o_proj.weight",
                                        "mlp.gate_up_proj.weight",
                                        "mlp.down_proj.weight",
                                        "lm_head.weight"};
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

int64_t ModelWeights::quantize_linear_q8() {
  auto list = named();
  const int64_t n = quantize_linear_weights(list);
  std::map<std::string, Tensor> by_name(list.begin(), list.end());
  visit("", [&](const std::string& name, Tensor& t) { t = by_name.at(name); });
  return n;
}

std::vector<std::pair<std::string, Tensor>> ModelWeights::named(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> r;
  // visit() only reads through the copy; the returned tensors share storage with this struct's.
  ModelWeights copy = *this;
  copy.visit(prefix, [&](const std::string& name, Tensor& t) { r.emplace_back(name, t); });
  return r;
}

}  // namespace rcc
