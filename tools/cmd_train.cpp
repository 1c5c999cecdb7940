// rcc train --config FILE.json [--out DIR] [--resume] [--stop-after N] [--threads N]
//           [--device D] [--quiet]
// Trains an RCC model (src/train/trainer.h); every hyper-parameter is in the JSON config (see
// configs/ and docs/training.md). Prints a JSON summary on stdout; progress and log lines on
// stderr.
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "core/progress.h"
#include "train/trainer.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc train --config FILE.json [--out DIR] [--resume] [--stop-after N] [--threads N]\n"
    "                 [--device D] [--quiet]\n"
    "Trains an RCC model. Every hyper-parameter is in the config (configs/*.json,\n"
    "docs/training.md). Writes DIR/model (an RCC checkpoint `rcc ask` and `rcc eval` load, with\n"
    "the optimizer state for --resume) and DIR/log.jsonl; prints a JSON summary.\n"
    "  --out DIR        output directory (default: runs/<config name>)\n"
    "  --resume         continue from DIR/model exactly where its checkpoint stopped\n"
    "  --stop-after N   stop once N steps are done (writing a checkpoint); resume later\n"
    "  --threads N      worker threads (default: all cores; the config's train.threads wins)\n"
    "  --device D       cpu (default), cuda or cuda:N: where the model trains (CUDA: bf16\n"
    "                   compute, f32 master weights, gradients and optimizer state)\n"
    "  --quiet          nothing on stderr\n";
}

int cmd_train(int argc, char** argv) {
  Args a(argc, argv, {"config", "out", "stop-after", "threads", "device"},
         {"resume", "quiet", "help"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  a.no_positionals();
  init_runtime(a);
  const std::string cfg_path = a.require("config");
  TrainConfig cfg = TrainConfig::load(cfg_path);
  TrainOptions opt;
  opt.out_dir = a.get_or("out", "runs/" + std::filesystem::path(cfg_path).stem().string());
  opt.resume = a.has("resume");
  opt.quiet = a.has("quiet");
  opt.stop_after = a.get_int("stop-after", -1, 0, INT64_MAX);
  opt.device = a.get_or("device", "cpu");
  const TrainSummary s = train(cfg, opt);
  std::printf("%s\n", s.to_json().dump().c_str());
  return 0;
}

}  // namespace rcc::cli
