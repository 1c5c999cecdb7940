// rcc train --config FILE.json [--out DIR] [--resume] [--stop-after N] [--time-limit S]
//           [--threads N] [--device D | --gpus N] [--quiet | --progress]
// Trains an RCC model (src/train/trainer.h); every hyper-parameter is in the JSON config (see
// configs/ and docs/training.md). Prints a JSON summary on stdout; progress and log lines on
// stderr. --gpus N starts N copies of itself (ranks of a data-parallel run, one per GPU, joined
// through NCCL) and waits for them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "args.h"
#include "backend/collective.h"
#include "commands.h"
#include "core/progress.h"
#include "output.h"
#include "paths.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc train --config FILE.json [--out DIR] [--resume] [--stop-after N]\n"
    "                 [--time-limit S] [--threads N] [--device D | --gpus N]\n"
    "                 [--quiet | --progress]\n"
    "Trains an RCC model. Every hyper-parameter is in the config (configs/*.json,\n"
    "docs/training.md). Writes DIR/model (an RCC checkpoint `rcc ask` and `rcc eval` load, with\n"
    "the optimizer state for --resume) and DIR/log.jsonl; prints a JSON summary.\n"
    "  --out DIR        output directory (default: runs/<config name>)\n"
    "  --resume         continue from DIR/model exactly where its checkpoint stopped\n"
    "  --stop-after N   stop once N steps are done (writing a checkpoint); resume later\n"
    "  --time-limit S   stop (writing a checkpoint) after the step during which this run's\n"
    "                   training time passes S seconds; resume later\n"
    "  --threads N      worker threads (default: all cores; the config's train.threads wins)\n"
    "  --device D       cpu (default), cuda or cuda:N: where the model trains (CUDA: bf16\n"
    "                   compute, f32 master weights, gradients and optimizer state)\n"
    "  --gpus N         data parallelism over GPUs 0..N-1: one process per GPU, each\n"
    "                   computing the gradients of its share of every batch, summed\n"
    "                   through NCCL (the update equals the one-GPU update)\n"
    "  --quiet          nothing on stderr\n"
    "  --progress       accepted as by every command; the step lines are printed on stderr\n"
    "                   whether or not it is a terminal (redrawn in place on a terminal)\n";

// Starts rank r of `world` as `rcc train <args without --gpus> --device cuda:r --rank r ...` and
// waits for all of them; the first failure stops the others. Returns the run's exit status.
int launch_ranks(int argc, char** argv, int world) {
  std::vector<std::string> base = {"/proc/self/exe", "train"};
  for (int i = 0; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--gpus") {
      ++i;
      continue;
    }
    if (s.rfind("--gpus=", 0) == 0) continue;
    base.push_back(s);
  }
  const std::string id = nccl_new_id();  // this process hosts NCCL's bootstrap
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> args = base;
    for (const std::string& s : {std::string("--device"), "cuda:" + std::to_string(r),
                                 std::string("--rank"), std::to_string(r), std::string("--world"),
                                 std::to_string(world), std::string("--nccl-id"), id})
      args.push_back(s);
    if (r > 0) args.push_back("--quiet");
    std::vector<char*> cargs;
    for (std::string& s : args) cargs.push_back(s.data());
    cargs.push_back(nullptr);
    std::fflush(nullptr);
    const pid_t pid = fork();
    RCC_CHECK(pid >= 0, "--gpus: cannot start rank ", r);
    if (pid == 0) {
      execv(cargs[0], cargs.data());
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  int status = 0, left = world;
  while (left > 0) {
    int ws = 0;
    const pid_t pid = waitpid(-1, &ws, 0);
    if (pid < 0) break;
    --left;
    const int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (code != 0 && status == 0) {
      status = code;
      std::fprintf(stderr, "error: rank %d exited with status %d; stopping the others\n",
                   int(std::find(pids.begin(), pids.end(), pid) - pids.begin()), code);
      for (pid_t p : pids)
        if (p != pid) kill(p, SIGTERM);
    }
  }
  return status;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args a(argc, argv,
         {"config", "out", "stop-after", "time-limit", "threads", "device", "gpus", "rank", "world",
          "nccl-id"},
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
  // The run directory may hold an earlier run (the trainer refuses to overwrite its model without
  // --resume) but must be a directory that can be created and written; checked before training.
  OutputDirRules run_dir;
  run_dir.may_exist_non_empty = true;
  check_output_dir(opt.out_dir, "--out", {{"--config", cfg_path}}, run_dir);
  opt.resume = a.has("resume");
  opt.quiet = a.has("quiet");
  opt.stop_after = a.get_int("stop-after", -1, 0, INT64_MAX);
  if (a.has("time-limit")) {
    opt.time_limit = a.get_double("time-limit", 0);
    if (!(opt.time_limit > 0))
      throw UsageError("--time-limit must be a positive number of seconds");
  }
  opt.device = a.get_or("device", "cpu");
  const int gpus = int(a.get_int("gpus", 1, 1, 1024));
  if (gpus > 1) {
    if (a.has("device") || a.has("rank")) throw UsageError("--gpus chooses the devices itself");
    // Before the ranks start, so that all of them see the same OUT/model.
    if (std::filesystem::is_directory(opt.out_dir)) recover_checkpoint(opt.out_dir);
    return launch_ranks(argc, argv, gpus);
  }
  if (a.has("rank")) {  // one rank of a --gpus run
    opt.world = int(a.get_int("world", 1, 1, 1024));
    opt.rank = int(a.get_int("rank", 0, 0, opt.world - 1));
    opt.nccl_id = a.require("nccl-id");
  }
  const TrainSummary s = train(cfg, opt);
  if (opt.rank == 0) print_json(s.to_json());
  return 0;
}

}  // namespace rcc::cli
