// rcc info --model DIR [--json]: config, parameter count, stored dtype and memory needs.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "io/checkpoint.h"
#include "model/config.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc info [--model DIR] [--json]\n"
    "Shows the model's configuration, parameter count, stored dtype, and the memory needed for "
    "the\n"
    "weights and per token of KV cache. --model defaults to $RCC_MODEL, else the bundled\n"
    "models/rcc-tiny.\n";
}

int cmd_info(int argc, char** argv) {
  Args a(argc, argv, {"model"}, {"json", "help"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const std::string dir = model_dir(a);
  GPTNeoXConfig cfg = GPTNeoXConfig::load(dir + "/config.json");
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
  const int64_t kv_per_token = 2 * cfg.num_layers * cfg.hidden_size * 4;  // f32 K and V
  nlohmann::json j;
  j["model"] = dir;
  j["architecture"] = "gpt_neox";
  j["vocab_size"] = cfg.vocab_size;
  j["hidden_size"] = cfg.hidden_size;
  j["num_layers"] = cfg.num_layers;
  j["num_heads"] = cfg.num_heads;
  j["intermediate_size"] = cfg.intermediate_size;
  j["rotary_pct"] = cfg.rotary_pct;
  j["rotary_base"] = cfg.rotary_base;
  j["use_parallel_residual"] = cfg.use_parallel_residual;
  j["parameters"] = cfg.parameter_count();
  j["stored_tensors"] = ckpt.names().size();
  j["stored_elements"] = stored_params;
  j["dtype"] = dtype;
  j["weights_bytes"] = ckpt.total_bytes();
  j["kv_cache_bytes_per_token"] = kv_per_token;
  j["shards"] = ckpt.shard_paths().size();
  if (a.has("json")) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("model          %s\n", dir.c_str());
  std::printf(
      "architecture   gpt_neox, %lld layers, hidden %lld, %lld heads, mlp %lld, vocab %lld\n",
      (long long)cfg.num_layers, (long long)cfg.hidden_size, (long long)cfg.num_heads,
      (long long)cfg.intermediate_size, (long long)cfg.vocab_size);
  std::printf("residual       %s; rotary %.2f of head dim, base %g\n",
              cfg.use_parallel_residual ? "parallel" : "serial", cfg.rotary_pct, cfg.rotary_base);
  std::printf("parameters     %lld (%.1f M)\n", (long long)cfg.parameter_count(),
              double(cfg.parameter_count()) / 1e6);
  std::printf("dtype          %s, %zu tensors in %zu file(s)\n", dtype.c_str(), ckpt.names().size(),
              ckpt.shard_paths().size());
  std::printf("memory         weights %.1f MiB (mapped); KV cache %.1f KiB per token (f32)\n",
              double(ckpt.total_bytes()) / (1 << 20), double(kv_per_token) / 1024);
  return 0;
}

}  // namespace rcc::cli
