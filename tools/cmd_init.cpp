// rcc init --config FILE.json --out DIR [--tokenizer FILE] [--seed S] [--dtype f32|bf16]
// Writes a new RCC model with random weights (rcc/rcc_init.h) in the layout `rcc ask` loads, into
// a new or empty DIR. The config holds config.json's GPT-NeoX fields, optionally an "rcc" object
// with rcc.json's fields.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/json_fields.h"
#include "inputs.h"
#include "io/atomic_file.h"
#include "paths.h"
#include "rcc/rcc_init.h"

namespace rcc::cli {

int cmd_init(int argc, char** argv) {
  Args a(argc, argv, {"config", "out", "tokenizer", "seed", "dtype", "threads"}, {"help"});
  if (a.has("help")) {
    std::fputs(
        "usage: rcc init --config FILE.json --out DIR [--tokenizer FILE] [--seed S]\n"
        "                [--dtype f32|bf16]\n"
        "Writes a new RCC model with random weights (see configs/demo-random.json) into DIR,\n"
        "which must be new or empty.\n",
        stdout);
    return 0;
  }
  init_runtime(a);
  const std::string cfg_path = a.require("config"), out = a.require("out");
  // A new model goes into a new or empty directory: written over an existing model it would
  // leave a mix of old and new files that no longer loads.
  check_output_dir(
      out, "--out",
      given_inputs({{"--config", cfg_path}, {"--tokenizer", a.get_or("tokenizer", "")}}));
  const std::string text = read_text(cfg_path);
  ModelConfig cfg = ModelConfig::parse(text, cfg_path);
  RCCSettings s;
  const nlohmann::json j = parse_json(text, cfg_path);
  if (j.contains("rcc")) s = RCCSettings::parse(j["rcc"].dump(), cfg_path + " (rcc)");
  s.check_window_fits(cfg.max_position_embeddings, cfg_path + " (rcc)");
  const std::string dt = a.get_or("dtype", "f32");
  if (dt != "f32" && dt != "bf16") throw UsageError("--dtype must be f32 or bf16");
  const DType dtype = dt == "f32" ? DType::F32 : DType::BF16;
  if (auto t = a.get("tokenizer")) Tokenizer::load(*t);  // validate before any work
  RCCModel m = init_random_rcc(cfg, s, dtype, uint64_t(a.get_int("seed", 1, 0, INT64_MAX)));
  // Built beside OUT and renamed into place (over an empty OUT): OUT is complete or as it was.
  remove_stale_temporaries(out);
  const std::filesystem::path tmp = temporary_path(out);
  std::filesystem::remove_all(tmp);
  try {
    m.save(tmp.string(), dtype);
    if (auto t = a.get("tokenizer"))
      std::filesystem::copy_file(*t, tmp / "tokenizer.json",
                                 std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(tmp, out);
    sync_parent_dir(out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
  std::fprintf(stderr, "wrote a random RCC model (%.1f M parameters per network) to %s\n",
               double(cfg.parameter_count()) / 1e6, out.c_str());
  return 0;
}

}  // namespace rcc::cli
