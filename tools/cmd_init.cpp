// rcc init --config FILE.json --out DIR [--tokenizer FILE] [--seed S] [--dtype f32|bf16]
// rcc init --from-base DIR --out DIR [--rcc FILE.json] [--projections identity|normal] ...
// Writes a new RCC model (rcc/rcc_init.h) in the layout `rcc ask` loads, into a new or empty DIR:
// with random weights from a config (config.json's fields, optionally an "rcc" object with
// rcc.json's), or with both networks from a Hugging Face base model directory (its tokenizer
// files copied, its chat format recognised from tokenizer_config.json).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/json_fields.h"
#include "inputs.h"
#include "io/atomic_file.h"
#include "model/load.h"
#include "paths.h"
#include "rcc/chat.h"
#include "rcc/rcc_init.h"

namespace rcc::cli {

namespace {

// The rcc.json settings of --rcc FILE (or the defaults), with the chat strings of the base model's
// tokenizer_config.json unless FILE spells "chat" out.
RCCSettings base_settings(const Args& a, const std::string& base) {
  RCCSettings s;
  bool chat_given = false;
  if (auto f = a.get("rcc")) {
    const std::string text = read_text(*f);
    s = RCCSettings::parse(text, *f);
    chat_given = parse_json(text, *f).contains("chat");
  }
  const std::filesystem::path tc = std::filesystem::path(base) / "tokenizer_config.json";
  if (!chat_given && std::filesystem::exists(tc))
    s.chat = chat_template_from_tokenizer_config(read_text(tc.string()), tc.string());
  return s;
}

}  // namespace

int cmd_init(int argc, char** argv) {
  Args a(
      argc, argv,
      {"config", "from-base", "rcc", "projections", "out", "tokenizer", "seed", "dtype", "threads"},
      {"help"});
  if (a.has("help")) {
    std::fputs(
        "usage: rcc init --config FILE.json --out DIR [--tokenizer FILE] [--seed S]\n"
        "                [--dtype f32|bf16]\n"
        "       rcc init --from-base BASE_DIR --out DIR [--rcc RCC.json]\n"
        "                [--projections identity|normal] [--seed S] [--dtype f32|bf16]\n"
        "Writes a new RCC model into DIR, which must be new or empty: with random weights from a\n"
        "config (see configs/demo-random.json), or with encoder and decoder both starting from\n"
        "a Hugging Face base model (GPT-NeoX, Llama, Qwen2, Qwen3, Mistral) and new projections\n"
        "E and A_i (identity: E = I, A_i = 0, the decoder starts as the base model). --rcc gives\n"
        "rcc.json's settings (window, ratio, ...); the chat strings come from the base model's\n"
        "tokenizer_config.json unless that file sets \"chat\".\n",
        stdout);
    return 0;
  }
  init_runtime(a);
  const std::string out = a.require("out");
  const auto base = a.get("from-base");
  if (base.has_value() == a.get("config").has_value())
    throw UsageError("give exactly one of --config FILE.json and --from-base DIR");
  const std::string dt = a.get_or("dtype", base ? "bf16" : "f32");
  if (dt != "f32" && dt != "bf16") throw UsageError("--dtype must be f32 or bf16");
  const DType dtype = dt == "f32" ? DType::F32 : DType::BF16;
  const uint64_t seed = uint64_t(a.get_int("seed", 1, 0, INT64_MAX));
  // A new model goes into a new or empty directory: written over an existing model it would
  // leave a mix of old and new files that no longer loads.
  check_output_dir(out, "--out",
                   given_inputs({{"--config", a.get_or("config", "")},
                                 {"--from-base", base.value_or("")},
                                 {"--rcc", a.get_or("rcc", "")},
                                 {"--tokenizer", a.get_or("tokenizer", "")}}));
  std::vector<std::string> copy_files;  // copied from the base model, when present
  std::optional<RCCModel> made;
  if (base) {
    if (a.get("tokenizer")) throw UsageError("--tokenizer: the base model's tokenizer is used");
    const RCCSettings s = base_settings(a, *base);
    Transformer b = load_model(*base);
    std::fprintf(stderr, "base model %s: %s, %lld layers, hidden %lld\n", base->c_str(),
                 b.config().model_type.c_str(), (long long)b.config().num_layers,
                 (long long)b.config().hidden_size);
    made.emplace(init_rcc_from_base(b, s, a.get_or("projections", "identity"), dtype, seed));
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      if (std::filesystem::exists(std::filesystem::path(*base) / f))
        copy_files.push_back((std::filesystem::path(*base) / f).string());
  } else {
    if (a.get("rcc") || a.get("projections"))
      throw UsageError("--rcc and --projections go with --from-base (a config has \"rcc\")");
    const std::string cfg_path = *a.get("config");
    const std::string text = read_text(cfg_path);
    ModelConfig cfg = ModelConfig::parse(text, cfg_path);
    RCCSettings s;
    const nlohmann::json j = parse_json(text, cfg_path);
    if (j.contains("rcc")) s = RCCSettings::parse(j["rcc"].dump(), cfg_path + " (rcc)");
    s.check_window_fits(cfg.max_position_embeddings, cfg_path + " (rcc)");
    if (auto t = a.get("tokenizer")) {
      Tokenizer::load(*t);  // validate before any work
      copy_files.push_back(*t);
    }
    made.emplace(init_random_rcc(cfg, s, dtype, seed));
  }
  const RCCModel& m = *made;
  // Built beside OUT and renamed into place (over an empty OUT): OUT is complete or as it was.
  remove_stale_temporaries(out);
  const std::filesystem::path tmp = temporary_path(out);
  std::filesystem::remove_all(tmp);
  try {
    m.save(tmp.string(), dtype);
    for (const std::string& f : copy_files) {
      const std::string name = std::filesystem::path(f).filename() == "tokenizer_config.json"
                                   ? "tokenizer_config.json"
                                   : "tokenizer.json";
      std::filesystem::copy_file(f, tmp / name, std::filesystem::copy_options::overwrite_existing);
    }
    std::filesystem::rename(tmp, out);
    sync_parent_dir(out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
  std::fprintf(stderr, "wrote %s RCC model (%s, %.1f M parameters per network) to %s\n",
               base ? "an" : "a random", m.decoder.config().model_type.c_str(),
               double(m.decoder.config().parameter_count()) / 1e6, out.c_str());
  return 0;
}

}  // namespace rcc::cli
