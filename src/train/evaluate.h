// Scoring a model on held-out examples of a task, the way `rcc ask` answers (RCC_SPEC §2–§3):
// compress the context (aligned windows, the model's memory dtype), prefill the decoder memory,
// generate greedily from the prompt until eos, compare with the answer.
//   passkey: accuracy = the first run of digits in the output equals the key;
//   other generative tasks: accuracy = the normalised output equals the normalised answer
//   (lower case, punctuation and surrounding space removed).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rcc/rcc_model.h"
#include "train/tasks.h"

namespace rcc {

struct EvalExample {
  std::string expected, got;
  bool correct = false;
};

struct EvalResult {
  std::string task;
  int64_t samples = 0, correct = 0;
  double accuracy = 0;
  double seconds = 0;
  std::vector<EvalExample> examples;  // the first few, for display
  nlohmann::json to_json() const;
};

EvalResult evaluate_task(const RCCModel& model, const TextCodec& codec, const TaskMixer& tasks,
                         size_t task, int64_t samples, uint64_t seed);

// "The cat sits on the sofa." -> "the cat sits on the sofa"
std::string normalize_answer(const std::string& s);

}  // namespace rcc
