// Everything a training run needs, read from one JSON file (`rcc train --config FILE.json`;
// examples in configs/, reference in docs/training.md). Unknown keys are errors (a typo must not
// silently fall back to a default).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.h"
#include "rcc/settings.h"
#include "tasks/tasks.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace rcc {

struct ModelInit {
  // "random": a new model from `config` (+ `rcc`); "base" (also "gpt_neox"): encoder and decoder
  // both from the
  // GPT-NeoX checkpoint at `from`; "rcc": continue from the RCC checkpoint at `from`.
  std::string kind = "random";
  std::string from;
  ModelConfig config;  // "random" only (vocab_size 0 = the vocabulary's size)
  RCCSettings rcc;     // "random" and "base"
  uint64_t seed = 1;
  double init_std = 0.02;              // "random": std of every matrix
  std::string projections = "normal";  // E, A_i: "normal" (std 1/sqrt(H)) | "identity" | "zero-a"
};

struct VocabSpec {
  std::string kind = "words";  // "words": built from the tasks' templates; "tokenizer": `path`
  std::string path;            // tokenizer.json (kind "tokenizer") or vocab.json
};

struct TrainLoop {
  int64_t steps = 1000;
  int64_t batch_size = 16;  // samples per micro-batch
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  // > 0: a micro-batch runs in several forward/backward passes of at most this many context
  // (encoder) tokens each — a sample longer than that alone — so one batch of long contexts does
  // not need the activation memory of all of them at once. The update is the same.
  int64_t max_pass_tokens = 0;
  LRSchedule schedule;  // lr, min_lr, warmup, kind; total = steps
  AdamWConfig adam;
  double clip = 1.0;  // max global gradient norm (0: no clipping)
  uint64_t seed = 1;  // data
  int threads = 0;    // 0: keep the CLI's --threads / all cores
  int64_t log_every = 10;
  int64_t eval_every = 0;  // 0: only at the end
  int64_t eval_samples = 100;
  uint64_t eval_seed = 1000003;  // held-out: a different stream from training
  int64_t checkpoint_every = 0;  // 0: only at the end
};

struct TrainConfig {
  ModelInit model;
  VocabSpec vocab;
  std::vector<TaskSpec> tasks;
  std::vector<TaskSpec> eval;  // tasks scored at every evaluation (default: the generative tasks)
  TrainLoop train;
  nlohmann::json source;  // the parsed file, saved beside checkpoints (train.json)

  static TrainConfig parse(const std::string& json_text, const std::string& source_name);
  static TrainConfig load(const std::string& path);
};

}  // namespace rcc
