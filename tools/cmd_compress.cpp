// rcc compress --model DIR (--input FILE|- | --input-ids FILE) --out X.rccm [--mode compat|aligned]
//              [--append] [--memory-dtype bf16|f32] [--encoder-precision bf16|fp8] [--threads N]
//              [--quiet] [--json]
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/hash.h"
#include "core/progress.h"
#include "inputs.h"
#include "io/file_lock.h"
#include "output.h"
#include "paths.h"
#include "rcc/compressor.h"
#include "rcc/memory_file.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc compress [--model DIR] (--input FILE|- | --input-ids FILE) --out X.rccm [options]\n"
    "Compresses a context into a memory file (one vector per R tokens per layer). --out must not\n"
    "be an input (the text, the ids, a file of the model); a symbolic link is written through.\n"
    "  --model DIR             default: $RCC_MODEL, else the bundled models/rcc-tiny\n"
    "  --mode compat|aligned   window alignment (default: the model's, from rcc.json; else "
    "compat)\n"
    "  --append                extend an existing aligned memory X.rccm: only its last, partial\n"
    "                          window is recomputed (the new text is tokenized on its own)\n"
    "  --memory-dtype bf16|f32 slot storage (default: the model's; bf16 as the reference)\n"
    "  --threads N             worker threads (default: all cores)\n"
    "  --device D              cpu (default), cuda or cuda:N (builds with CUDA)\n"
    "%s"
    "  --quiet                 no progress on stderr\n"
    "  --progress              progress on stderr even when it is not a terminal (plain lines)\n"
    "  --json                  print a JSON summary on stdout\n";
}

int cmd_compress(int argc, char** argv) {
  Args a(argc, argv,
         {"model", "input", "input-ids", "out", "mode", "memory-dtype", "threads", "tokenizer",
          "device", "encoder-precision"},
         {"append", "quiet", "json", "help"});
  if (a.has("help")) {
    std::printf(kHelp, kEncoderPrecisionHelp);
    return 0;
  }
  init_runtime(a);
  Progress::set_quiet_default(a.has("quiet"));
  const std::string dir = model_dir(a);
  if (a.has("input") == a.has("input-ids"))
    throw UsageError("give exactly one of --input and --input-ids");
  // The memory is written over neither the text, nor the ids, nor the model (--append reads and
  // rewrites --out itself); a symbolic link --out is written through. Checked before any work.
  const std::string out =
      check_output_file(a.require("out"), "--out",
                        given_inputs({{"--input", a.get_or("input", "")},
                                      {"--input-ids", a.get_or("input-ids", "")},
                                      {"--tokenizer", a.get_or("tokenizer", "")},
                                      {"--model", dir}}));
  Progress load("loaded model " + dir, 1, "");
  RCCModel model = RCCModel::load(dir, device_backend(a), encoder_precision(a));
  load.finish(1);
  std::vector<int32_t> ids;
  if (a.has("input-ids")) {
    ids = read_context_ids(a.require("input-ids"), "--input-ids");
  } else {
    auto tok = model_tokenizer(dir, a.get("tokenizer"));
    RCC_CHECK(tok, dir, ": no tokenizer.json (give --tokenizer FILE or use --input-ids)");
    ids = tok->encode(read_context_text(a.require("input"), "--input"));
  }
  check_ids(ids, model.encoder.config().vocab_size, "input");
  RCC_CHECK(!ids.empty(), "the input is empty: nothing to compress");
  WindowMode mode = a.has("mode") ? parse_mode(a.require("mode")) : model.settings.mode;
  DType mdt = model.settings.memory_dtype;
  if (auto d = a.get("memory-dtype")) {
    if (*d != "bf16" && *d != "f32") throw UsageError("--memory-dtype must be bf16 or f32");
    mdt = *d == "f32" ? DType::F32 : DType::BF16;
  }
  Memory mem;
  int64_t recomputed_windows = 0;
  Progress prog("compressing", int64_t(ids.size()), "tokens");
  auto on_window = [&](int64_t i, int64_t n, const float*, int64_t) {
    recomputed_windows = n;
    prog.update(int64_t(ids.size()) * (i + 1) / n);
  };
  // Writers of one memory take turns: an append reads, extends and replaces the file under the
  // lock, so two appends both land; a full compression takes it only to replace the file.
  FileLock lock;
  if (a.has("append")) {
    RCC_CHECK(std::filesystem::exists(out), out, ": --append needs an existing memory file");
    lock = FileLock::exclusive(out, FileLock::Wait::Block, "compress --append");
    mem = load_memory_for(out, model.encoder_fingerprint, model.settings.window,
                          model.settings.ratio);
    RCC_CHECK(!a.has("mode") || mode == mem.mode, "--mode ", mode_name(mode),
              " differs from the memory's ", mode_name(mem.mode));
    Compressor(model).append(mem, ids, on_window);
  } else {
    mem = Compressor(model).compress(ids, mode, mdt, on_window);
  }
  prog.finish(int64_t(ids.size()));
  if (!lock.held() && std::filesystem::exists(out))
    lock = FileLock::exclusive(out, FileLock::Wait::Block, "compress");
  save_memory(out, mem);
  lock = FileLock();
  nlohmann::json j;
  j["out"] = a.require("out");
  j["tokens_added"] = ids.size();
  j["token_count"] = mem.token_count;
  j["slots"] = mem.slots();
  j["windows_encoded"] = recomputed_windows;
  j["mode"] = mode_name(mem.mode);
  j["dtype"] = dtype_name(mem.dtype);
  j["encoder_precision"] = precision_name(model.settings.encoder_precision);
  j["seconds"] = prog.seconds();
  j["bytes"] = std::filesystem::file_size(out);
  if (a.has("json"))
    print_json(j);
  else
    std::fprintf(stderr, "wrote %s: %lld tokens -> %lld slots (%s, %s)\n", a.require("out").c_str(),
                 (long long)mem.token_count, (long long)mem.slots(), mode_name(mem.mode),
                 dtype_name(mem.dtype));
  return 0;
}

}  // namespace rcc::cli
