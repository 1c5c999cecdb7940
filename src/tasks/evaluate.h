// Scoring a model on held-out examples, the way `rcc ask` answers (spec §2–§4, §6.12): compress the
// context (aligned windows, the model's memory dtype), prefill the decoder memory, generate
// greedily from the prompt until eos, compare with the truth (metrics.h).
//   passkey:                accuracy = the first run of digits in the output equals the key;
//   facts, babi, instruction (qa): the answer is the text after the answer marker;
//                           accuracy = exact match after normalize_answer; also token F1 and
//                           ROUGE-L (averaged over examples);
//   reconstruction:         a window of real text is compressed; the decoder gets its first `cue`
//                           tokens and generates the rest (no eos stop); BLEU-4 over token ids
//                           (corpus level) and exact match (accuracy = exact match).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rcc/rcc_model.h"
#include "tasks/tasks.h"

namespace rcc {

struct EvalExample {
  std::string expected, got;
  bool correct = false;
};

struct EvalResult {
  std::string task;
  int64_t samples = 0, correct = 0;
  double accuracy = 0;
  double f1 = -1, rouge_l = -1, bleu4 = -1;  // -1: not computed for this task
  double seconds = 0;
  std::vector<EvalExample> examples;  // the first few, for display
  nlohmann::json to_json() const;
};

// Task `task` of `tasks` (a generative task or reconstruction). Instruction tasks walk their rows
// in order (at most `samples`); others draw `samples` examples from a generator seeded with `seed`.
EvalResult evaluate_task(const RCCModel& model, const TaskMixer& tasks, size_t task,
                         int64_t samples, uint64_t seed, int64_t cue = 16);

}  // namespace rcc
