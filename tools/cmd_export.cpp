// rcc export --model DIR --out DIR [--dtype f32|bf16|q8] [--max-shard-mb N] [--decoder]
// Re-writes a model directory in another dtype and shard size (e.g. a trained f32 checkpoint as
// the bf16 files a release ships), or, with --decoder, an RCC model's decoder alone as a plain
// model of its family (`rcc generate` runs it; a training config's `"init": "base"` starts both
// networks of a new RCC model from it; GPT-NeoX in Hugging Face's layout, the Llama family with
// q/k/v and gate/up stacked, docs/formats.md, which transformers does not read). The tokenizer or
// word vocabulary, rcc.json and train.json go along. The output is assembled in a temporary
// directory beside OUT and renamed into place, so OUT is either complete or absent.

#include <cstdio>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "model/load.h"
#include "paths.h"
#include "rcc/rcc_model.h"

namespace rcc::cli {

namespace fs = std::filesystem;

namespace {

const char* kHelp =
    "usage: rcc export --model DIR --out DIR [--dtype f32|bf16|q8] [--max-shard-mb N] [--decoder]\n"
    "Writes the model in DIR to a new directory OUT (which must not exist):\n"
    "  --dtype f32|bf16|q8  stored dtype (default bf16); q8: the matrices of the linear layers\n"
    "                       as int8 with one f16 scale per 32 values (docs/formats.md), the\n"
    "                       rest in bf16\n"
    "  --max-shard-mb N     largest safetensors file, in MiB (default 2048); more tensors than\n"
    "                       that are split into model-0000K-of-0000N.safetensors with an index\n"
    "  --decoder            only the decoder of an RCC model, as a plain model of its family\n";

bool is_rcc_dir(const std::string& dir) {
  return fs::exists(fs::path(dir) / "rcc.json");
}

}  // namespace

int cmd_export(int argc, char** argv) {
  Args a(argc, argv, {"model", "out", "dtype", "max-shard-mb", "threads"}, {"decoder", "help"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  init_runtime(a);
  const std::string dir = a.require("model"), out = a.require("out");
  const std::string dt = a.get_or("dtype", "bf16");
  if (dt != "f32" && dt != "bf16" && dt != "q8")
    throw UsageError("--dtype must be f32, bf16 or q8");
  const DType dtype = dt == "f32" ? DType::F32 : DType::BF16;
  const bool q8 = dt == "q8";
  // A plain model's tensors, quantized when asked.
  auto tensors = [&](const ModelWeights& w) {
    auto named = w.named();
    if (q8) quantize_linear_weights(named);
    return named;
  };
  const size_t shard = size_t(a.get_int("max-shard-mb", 2048, 1, 1 << 20)) << 20;
  RCC_CHECK(fs::is_directory(dir), dir, ": model directory not found");
  OutputDirRules new_dir;
  new_dir.must_not_exist = true;  // export writes a new directory (renamed into place when done)
  check_output_dir(out, "--out", {{"--model", dir}}, new_dir);
  const bool decoder_only = a.has("decoder");
  RCC_CHECK(!decoder_only || is_rcc_dir(dir), dir, ": --decoder needs an RCC model (no rcc.json)");

  remove_stale_temporaries(out);
  const fs::path tmp = temporary_path(out);
  fs::remove_all(tmp);
  try {
    std::vector<const char*> extras = {"tokenizer.json", "vocab.json"};
    if (decoder_only) {
      const RCCModel m = RCCModel::load(dir);
      write_checkpoint(tmp.string(), tensors(m.decoder.weights()), dtype, shard);
      ModelConfig cfg = m.decoder.config();
      cfg.torch_dtype = dt == "f32" ? "float32" : "bfloat16";
      write_string_atomic((tmp / "config.json").string(), cfg.to_json());
    } else if (is_rcc_dir(dir)) {
      RCCModel::load(dir).save(tmp.string(), dtype, shard, q8);
      extras.push_back("train.json");
    } else {
      const Transformer m = load_model(dir);
      write_checkpoint(tmp.string(), tensors(m.weights()), dtype, shard);
      ModelConfig cfg = m.config();
      cfg.torch_dtype = dt == "f32" ? "float32" : "bfloat16";
      write_string_atomic((tmp / "config.json").string(), cfg.to_json());
    }
    for (const char* f : extras)
      if (fs::exists(fs::path(dir) / f)) fs::copy_file(fs::path(dir) / f, tmp / f);
    fs::rename(tmp, out);
    sync_parent_dir(out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  size_t bytes = 0;
  for (const auto& e : fs::directory_iterator(out))
    if (e.is_regular_file()) bytes += e.file_size();
  std::fprintf(stderr, "wrote %s (%s, %.1f MiB)\n", out.c_str(), dt.c_str(),
               double(bytes) / (1 << 20));
  return 0;
}

}  // namespace rcc::cli
