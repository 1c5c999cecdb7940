// The training loop (`rcc train`): AdamW with decoupled weight decay, gradient clipping, warmup +
// cosine schedule, gradient accumulation, periodic evaluation and checkpoints, JSONL logs.
//
// Output directory:
//   OUT/model/      the latest checkpoint: an RCC checkpoint in the layout `rcc ask` loads
//                   (config.json, rcc.json, model.safetensors, f32) plus vocab.json or
//                   tokenizer.json, train.json (the config) and state.rcct (optimizer, data and
//                   step state, train_state.h). Replaced atomically (written beside, then renamed).
//   OUT/log.jsonl   one JSON object per logged step {"step","loss","lr","grad_norm","tokens",
//                   "tokens_per_s","gflops","elapsed_s"} and per evaluation {"step","eval":{...}}.
//
// Multi-GPU: TrainOptions::world > 1 (`rcc train --gpus N` starts the processes).
//
// Determinism: the data generator's state, the step and the optimizer state are all in the
// checkpoint and the weights are saved in f32, so a run resumed from a checkpoint continues exactly
// as the uninterrupted run (bit for bit at the same thread count).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "train/train_config.h"

namespace rcc {

struct TrainOptions {
  std::string out_dir;
  bool resume = false;         // continue from OUT/model (its state.rcct)
  bool quiet = false;          // no progress or log lines on stderr
  int64_t stop_after = -1;     // stop (with a checkpoint) once this many steps are done; -1: all
  double time_limit = 0;       // > 0: stop (with a checkpoint) after the step during which this
                               // run's training time passes it (seconds; ranks agree)
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N" (backend/backend.h backend_for)
  // Data parallelism (one process per GPU, backend/collective.h): every rank draws the same
  // global batch and computes the gradients of its share of the samples (sample b goes to rank
  // b mod world); the gradients are summed across ranks before clipping, so the update equals the
  // single-process one up to summation order. Rank 0 alone logs, evaluates and checkpoints.
  int rank = 0, world = 1;
  std::string nccl_id;  // from nccl_new_id(), when world > 1
};

struct TrainSummary {
  int64_t step = 0;                           // steps done
  double loss = 0;                            // mean loss of the last logged window
  double seconds = 0;                         // training time (all runs of a resumed training)
  double tokens_per_s = 0, gflops_per_s = 0;  // of this run
  nlohmann::json eval;                        // the last evaluation ({} if none)
  std::string model_dir;
  nlohmann::json to_json() const;
};

TrainSummary train(const TrainConfig& cfg, const TrainOptions& opt);

}  // namespace rcc
