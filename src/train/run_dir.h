// The output folder of a training run, OUT: OUT/model (the latest checkpoint: weights, vocabulary,
// train.json, state.rcct), OUT/log.jsonl. A checkpoint is built in OUT/model.tmp and replaced in
// two renames (model -> model.old, model.tmp -> model); state.rcct is written last, so a
// model.tmp that has it is complete. The lead rank holds an exclusive lock on OUT for the run.
#pragma once
#include <functional>
#include <string>

#include "io/file_lock.h"

namespace rcc {

struct RunDir {
  std::string out_dir;
  std::string model_dir;  // OUT/model
  std::string log_path;   // OUT/log.jsonl
  bool resuming = false;  // OUT/model holds a checkpoint to continue
  FileLock lock;          // on OUT (lead rank only)
};

// Puts back the newest complete checkpoint after a crash while one was being replaced: a complete
// model.tmp becomes model, else a lone model.old does; a partial model.tmp and a stale model.old
// are removed. Says on stderr what it did. A no-op when nothing was interrupted (or OUT is absent).
void recover_checkpoint(const std::string& out_dir);

// Checks OUT against --resume, recovers an interrupted checkpoint and creates OUT. --resume
// continues OUT/model; with nothing there yet it starts the run (so one command line serves both).
// A model folder without training state is never overwritten. `lead`: lock OUT (another run
// writing to it is refused) and recover; other ranks only read.
RunDir open_run_dir(const std::string& out_dir, bool resume, bool lead);

// Writes the next checkpoint: clears OUT/model.tmp, `fill(model.tmp)` writes every file (training
// state last), then it replaces OUT/model and the folder is flushed.
void replace_checkpoint(const RunDir& dir, const std::function<void(const std::string&)>& fill);

}  // namespace rcc
