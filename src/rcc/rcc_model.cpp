#include "rcc/rcc_model.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/thread_pool.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace rcc {

namespace fs = std::filesystem;

namespace {
const char* kEncoderPrefix = "gpt_neox.rcc_encoder.";
const char* kEmbedProj = "gpt_neox.rcc_encoder2gpt_embed.weight";
std::string layer_proj_name(int64_t i) {
  return "gpt_neox.rcc_encoder2gpt_A_matrix." + std::to_string(i) + ".weight";
}

Tensor projection(const Checkpoint& c, const std::string& name, int64_t H) {
  Tensor t = c.get(name, {H, H});
  RCC_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16 || t.dtype() == DType::F16, c.dir(),
            ": tensor '", name, "' has dtype ", dtype_name(t.dtype()));
  return t;
}
}  // namespace

uint64_t encoder_fingerprint(const Transformer& enc, const RCCSettings& s) {
  auto named = enc.weights().named(kEncoderPrefix);
  std::vector<uint64_t> hashes(named.size());
  parallel_for(int64_t(named.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const Tensor& t = named[size_t(i)].second;
      Xxh64 h;
      h.update(named[size_t(i)].first.data(), named[size_t(i)].first.size());
      const char* dt = dtype_name(t.dtype());
      h.update(dt, std::strlen(dt));
      h.update(t.shape().data(), t.shape().size() * sizeof(int64_t));
      h.update(t.raw(), t.nbytes());
      if (t.quantized()) h.update(t.block_scales().raw(), t.block_scales().nbytes());  // q8
      hashes[size_t(i)] = h.digest();
    }
  });
  Xxh64 all;
  const std::string cfg = enc.config().to_json();
  all.update(cfg.data(), cfg.size());
  int64_t wr[2] = {s.window, s.ratio};
  all.update(wr, sizeof wr);
  all.update(hashes.data(), hashes.size() * 8);
  return all.digest();
}

void RCCModel::prepare() {
  Backend& be = backend();
  RCC_CHECK(&encoder.backend() == &be, "RCC model: encoder and decoder on different backends");
  embed_proj_dev = be.prepare_weight(embed_proj);
  layer_proj_dev.clear();
  for (const Tensor& a : layer_proj) layer_proj_dev.push_back(be.prepare_weight(a));
}

RCCModel RCCModel::load(const std::string& dir, Backend& be,
                        std::optional<EncoderPrecision> encoder_precision) {
  RCC_CHECK(fs::is_directory(dir), dir, ": model directory not found");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  RCC_CHECK(fs::exists(cfg_path), dir, ": no config.json");
  ModelConfig cfg = ModelConfig::load(cfg_path);
  RCCSettings settings = load_rcc_settings(dir);
  if (encoder_precision) settings.encoder_precision = *encoder_precision;
  const fs::path rcc_json = fs::path(dir) / "rcc.json";
  settings.check_window_fits(
      cfg.max_position_embeddings,
      fs::exists(rcc_json) ? rcc_json.string() : dir + " (no rcc.json: the default window)");
  Checkpoint ckpt = Checkpoint::open(dir);
  RCC_CHECK(ckpt.contains(kEmbedProj), dir, ": not an RCC checkpoint (no '", kEmbedProj,
            "'); for a plain GPT-NeoX model use `rcc generate`");
  RCCModel m{Transformer(cfg, ModelWeights::load(ckpt, cfg, kEncoderPrefix, /*with_head=*/false),
                         be, settings.encoder_precision == EncoderPrecision::FP8),
             Transformer(cfg, ModelWeights::load(ckpt, cfg), be),
             projection(ckpt, kEmbedProj, cfg.hidden_size),
             {},
             settings};
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    m.layer_proj.push_back(projection(ckpt, layer_proj_name(i), cfg.hidden_size));
  m.encoder_fingerprint = rcc::encoder_fingerprint(m.encoder, m.settings);
  m.prepare();
  return m;
}

void RCCModel::save(const std::string& dir, DType dtype, size_t max_shard_bytes, bool q8) const {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> all = decoder.weights().named();
  all.emplace_back(kEmbedProj, embed_proj);
  for (size_t i = 0; i < layer_proj.size(); ++i)
    all.emplace_back(layer_proj_name(int64_t(i)), layer_proj[i]);
  for (auto& kv : encoder.weights().named(kEncoderPrefix)) all.push_back(kv);
  if (q8) quantize_linear_weights(all);
  write_checkpoint(dir, std::move(all), dtype, max_shard_bytes);
  ModelConfig cfg = decoder.config();
  cfg.torch_dtype = dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32";
  write_string_atomic((fs::path(dir) / "config.json").string(), cfg.to_json());
  write_string_atomic((fs::path(dir) / "rcc.json").string(), settings.to_json());
}

}  // namespace rcc
