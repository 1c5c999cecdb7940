// rcc info --model DIR [--json]: config, parameter count, stored dtype and memory needs. For an RCC
// model also the encoder and decoder apart, W, R, window mode, memory dtype, and what the memory of
// 1M context tokens costs: its slots and the decoder's keys/values of them.
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "io/checkpoint.h"
#include "model/config.h"
#include "output.h"
#include "rcc/settings.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc info [--model DIR] [--json]\n"
    "Shows the model's configuration, parameter count, stored dtype, and the memory needed for "
    "the\n"
    "weights and per token of KV cache. --model defaults to $RCC_MODEL, else the bundled\n"
    "models/rcc-tiny. For an RCC model also the encoder and the decoder, the window W, ratio R,\n"
    "window mode and memory dtype, and per 1M context tokens: the slots (1M/R, each (L+1)*H\n"
    "numbers) and the decoder cache of them (P*L*2*H: f32 on the CPU, bf16 on CUDA, int8 with\n"
    "--kv-8bit).\n";

const char* kEncoderPrefix = "gpt_neox.rcc_encoder.";
const char* kProjectionPrefix = "gpt_neox.rcc_encoder2gpt_";  // E and the A_i
constexpr int64_t kMillion = 1000000;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// 1234567 -> "1.2 MB" (decimal units, as disk and memory sizes are usually quoted).
std::string bytes_text(double b) {
  char t[32];
  if (b >= 1e9)
    std::snprintf(t, sizeof t, "%.2f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(t, sizeof t, "%.1f MB", b / 1e6);
  else
    std::snprintf(t, sizeof t, "%.1f kB", b / 1e3);
  return t;
}

// The RCC part of `rcc info`: encoder and decoder apart, the settings, and the cost of the memory
// of 1M context tokens. Encoder and decoder share config.json (RCCModel::load); the parameter
// counts are those stored in the checkpoint.
nlohmann::json rcc_info(const std::string& dir, const ModelConfig& cfg, const Checkpoint& ckpt) {
  int64_t enc = 0, proj = 0, dec = 0;
  for (const auto& name : ckpt.names()) {
    const int64_t n = shape_numel(ckpt.shape(name));
    if (name.rfind(kEncoderPrefix, 0) == 0)
      enc += n;
    else if (name.rfind(kProjectionPrefix, 0) == 0)
      proj += n;
    else
      dec += n;
  }
  const RCCSettings s = load_rcc_settings(dir);
  const int64_t L = cfg.num_layers, H = cfg.hidden_size, heads = cfg.num_heads;
  const int64_t slot_bytes = (L + 1) * H * int64_t(dtype_size(s.memory_dtype));
  const int64_t P = (kMillion + s.ratio - 1) / s.ratio;  // slots of 1M tokens
  const int64_t kv_values = P * L * 2 * cfg.kv_width();  // K and V, every layer and position
  auto net = [&](int64_t params) {
    return nlohmann::json{
        {"layers", L}, {"hidden_size", H}, {"num_heads", heads}, {"parameters", params}};
  };
  nlohmann::json r;
  r["encoder"] = net(enc);
  r["decoder"] = net(dec);
  r["projection_parameters"] = proj;
  r["window"] = s.window;
  r["ratio"] = s.ratio;
  r["slots_per_window"] = s.slots_per_window();
  r["window_mode"] = mode_name(s.mode);
  r["memory_dtype"] = lower(dtype_name(s.memory_dtype));
  r["encoder_precision"] = precision_name(s.encoder_precision);
  r["memory_levels"] = L + 1;
  r["slot_bytes"] = slot_bytes;
  r["per_1m_tokens"] = {{"slots", P},
                        {"memory_bytes", P * slot_bytes},
                        {"decoder_cache_bytes",
                         {{"cpu_f32", kv_values * 4},
                          {"cuda_bf16", kv_values * 2},
                          // int8 values plus one f32 scale per (position, head) for K and for V
                          {"cuda_int8", kv_values + P * L * 2 * cfg.kv_heads() * 4}}}};
  return r;
}

void print_rcc(const nlohmann::json& r) {
  auto i = [](const nlohmann::json& v) { return v.get<long long>(); };
  for (const char* part : {"encoder", "decoder"}) {
    const nlohmann::json& n = r[part];
    std::printf("%-14s %lld layers, hidden %lld, %lld heads, %lld parameters (%.1f M)%s\n", part,
                i(n["layers"]), i(n["hidden_size"]), i(n["num_heads"]), i(n["parameters"]),
                double(i(n["parameters"])) / 1e6,
                std::string(part) == "encoder" ? ", no LM head" : "");
  }
  const long long all =
      i(r["encoder"]["parameters"]) + i(r["decoder"]["parameters"]) + i(r["projection_parameters"]);
  std::printf("projections    E and %lld A_i, %lld parameters; %.1f M parameters in all\n",
              i(r["decoder"]["layers"]), i(r["projection_parameters"]), double(all) / 1e6);
  const std::string mdt = r["memory_dtype"];
  std::printf(
      "rcc            window %lld, ratio %lld (%lld slots per window), %s mode, memory %s, "
      "encoder products %s\n",
      i(r["window"]), i(r["ratio"]), i(r["slots_per_window"]),
      r["window_mode"].get<std::string>().c_str(), mdt.c_str(),
      r["encoder_precision"].get<std::string>().c_str());
  const nlohmann::json& m = r["per_1m_tokens"];
  const nlohmann::json& kv = m["decoder_cache_bytes"];
  std::printf("memory/1M tok  %lld slots x %lld levels x %lld %s = %s\n", i(m["slots"]),
              i(r["memory_levels"]), i(r["decoder"]["hidden_size"]), mdt.c_str(),
              bytes_text(double(i(m["memory_bytes"]))).c_str());
  std::printf(
      "cache/1M tok   decoder keys/values of those slots: %s f32 (cpu), %s bf16 (cuda), %s "
      "int8 (cuda --kv-8bit)\n",
      bytes_text(double(i(kv["cpu_f32"]))).c_str(), bytes_text(double(i(kv["cuda_bf16"]))).c_str(),
      bytes_text(double(i(kv["cuda_int8"]))).c_str());
}

}  // namespace

int cmd_info(int argc, char** argv) {
  Args a(argc, argv, {"model"}, {"json", "help"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const std::string dir = model_dir(a);
  ModelConfig cfg = ModelConfig::load(dir + "/config.json");
  Checkpoint ckpt = Checkpoint::open(dir);
  std::map<std::string, int64_t> dtype_counts;
  int64_t stored_params = 0;
  for (const auto& name : ckpt.names()) {
    int64_t n = shape_numel(ckpt.shape(name));
    dtype_counts[dtype_name(ckpt.dtype(name))] += n;
    stored_params += n;
  }
  std::string dtype = "mixed";
  if (dtype_counts.size() == 1) dtype = dtype_counts.begin()->first;
  const int64_t kv_per_token = 2 * cfg.num_layers * cfg.kv_width() * 4;  // f32 K and V
  const char* scaling = cfg.rope_scaling.type == RopeScaling::Type::Llama3   ? "llama3"
                        : cfg.rope_scaling.type == RopeScaling::Type::Linear ? "linear"
                                                                             : "none";
  nlohmann::json j;
  j["model"] = dir;
  j["architecture"] = cfg.model_type;
  j["vocab_size"] = cfg.vocab_size;
  j["hidden_size"] = cfg.hidden_size;
  j["num_layers"] = cfg.num_layers;
  j["num_heads"] = cfg.num_heads;
  j["num_kv_heads"] = cfg.kv_heads();
  j["head_dim"] = cfg.head_dim();
  j["intermediate_size"] = cfg.intermediate_size;
  j["norm"] = cfg.rms_norm ? "rms_norm" : "layer_norm";
  j["mlp"] = cfg.gated_mlp ? "swiglu" : "gelu";
  j["rotary_pct"] = cfg.rotary_pct;
  j["rotary_base"] = cfg.rotary_base;
  j["rope_scaling"] = scaling;
  j["sliding_window"] = cfg.sliding_window;
  j["qk_norm"] = cfg.qk_norm;
  j["tie_word_embeddings"] = cfg.tie_word_embeddings;
  j["use_parallel_residual"] = cfg.use_parallel_residual;
  j["parameters"] = cfg.parameter_count();
  j["stored_tensors"] = ckpt.names().size();
  j["stored_elements"] = stored_params;
  j["dtype"] = dtype;
  j["weights_bytes"] = ckpt.total_bytes();
  j["kv_cache_bytes_per_token"] = kv_per_token;
  j["shards"] = ckpt.shard_paths().size();
  const bool is_rcc = ckpt.contains("gpt_neox.rcc_encoder2gpt_embed.weight");
  if (is_rcc) j["rcc"] = rcc_info(dir, cfg, ckpt);
  if (a.has("json")) {
    print_json(j);
    return 0;
  }
  std::printf("model          %s\n", dir.c_str());
  std::printf(
      "architecture   %s, %lld layers, hidden %lld, %lld heads (%lld key/value) of %lld, mlp %lld "
      "(%s), vocab %lld\n",
      cfg.model_type.c_str(), (long long)cfg.num_layers, (long long)cfg.hidden_size,
      (long long)cfg.num_heads, (long long)cfg.kv_heads(), (long long)cfg.head_dim(),
      (long long)cfg.intermediate_size, cfg.gated_mlp ? "swiglu" : "gelu",
      (long long)cfg.vocab_size);
  std::printf("layers         %s, %s residual%s; rotary %.2f of head dim, base %g, scaling %s",
              cfg.rms_norm ? "rms_norm" : "layer_norm",
              cfg.use_parallel_residual ? "parallel" : "serial", cfg.qk_norm ? ", q/k norms" : "",
              cfg.rotary_pct, cfg.rotary_base, scaling);
  if (cfg.sliding_window > 0) std::printf("; sliding window %lld", (long long)cfg.sliding_window);
  std::printf("\n");
  std::printf("parameters     %lld (%.1f M)\n", (long long)cfg.parameter_count(),
              double(cfg.parameter_count()) / 1e6);
  std::printf("dtype          %s, %zu tensors in %zu file(s)\n", dtype.c_str(), ckpt.names().size(),
              ckpt.shard_paths().size());
  std::printf("memory         weights %.1f MiB (mapped); KV cache %.1f KiB per token (f32)\n",
              double(ckpt.total_bytes()) / (1 << 20), double(kv_per_token) / 1024);
  if (is_rcc) print_rcc(j["rcc"]);
  return 0;
}

}  // namespace rcc::cli
