// Training and evaluation tasks (RCC_SPEC §6), mixable by weight in one run. Each task turns a
// random draw into a TaskExample (context to compress, decoder prompt, answer). Kinds:
//   passkey         synthetic passkey retrieval (passkey.h)
//   (further kinds are added in their own files and registered in tasks.cpp)
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/codec.h"
#include "train/passkey.h"
#include "train/rng.h"
#include "train/task.h"

namespace rcc {

struct TaskSpec {
  std::string kind;
  double weight = 1.0;
  PasskeyConfig passkey;
  nlohmann::json options;  // the task's JSON object as given (reported in logs and train.json)
};

// Parses one task object {"kind": ..., "weight": ..., kind-specific fields}; `where` names it in
// errors. Unknown fields are errors.
TaskSpec parse_task(const nlohmann::json& j, const std::string& where);
// Words a word-level vocabulary needs for this task's templates.
std::vector<std::string> task_words(const TaskSpec& t);
// True for tasks scored by generating an answer (passkey, facts, babi, qa).
bool task_is_generative(const TaskSpec& t);

// Draws samples from a weighted mixture of tasks. Data files (shards, JSONL) are read once here.
class TaskMixer {
 public:
  TaskMixer(std::vector<TaskSpec> tasks, const TextCodec& codec);
  // One example of task `i`.
  TaskExample example(size_t i, Rng& rng) const;
  // A task chosen by weight, then its example as a training sample.
  Sample sample(Rng& rng) const;
  const std::vector<TaskSpec>& tasks() const { return tasks_; }

 private:
  std::vector<TaskSpec> tasks_;
  const TextCodec& codec_;
  double total_weight_ = 0;
};

}  // namespace rcc
