// Training and evaluation tasks (spec §6), mixable by weight in one run. Each task turns a
// random draw into a sample (context to compress, decoder tokens, loss weights). Kinds and their
// files:
//   passkey          synthetic passkey retrieval; optional real-text haystack (passkey.h)
//   facts            "where does the cat sit" facts QA (facts.h)
//   babi             bAbI-like stories, tasks 1 and 2 (babi.h)
//   lm, reconstruction, continuation   objectives on token shards (text_tasks.h)
//   instruction      {"input","prompt","answer"} JSONL, manual / instruction reconstruction
//                    (instruction.h)
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/babi.h"
#include "tasks/codec.h"
#include "tasks/facts.h"
#include "tasks/haystack.h"
#include "tasks/instruction.h"
#include "tasks/passkey.h"
#include "tasks/rng.h"
#include "tasks/task.h"
#include "tasks/text_tasks.h"

namespace rcc {

struct TaskSpec {
  std::string kind;
  double weight = 1.0;       // how often the mixer draws this task (relative to the others)
  double loss_weight = 1.0;  // multiplies the loss weights of its samples (its gradient share)
  PasskeyConfig passkey;
  // Token shards of real text: passkey's filler; for facts and babi a haystack the context is
  // placed in (haystack_min_tokens..haystack_max_tokens long, at min_depth..max_depth).
  std::vector<std::string> haystack;
  Haystack placement;
  FactsConfig facts;
  BabiConfig babi;
  TextTaskConfig text;
  InstructionConfig instruction;
  nlohmann::json options;  // the task's JSON object as given
};

// Parses one task object {"kind": ..., "weight": ..., kind-specific fields}; `where` names it in
// errors. Unknown fields are errors.
TaskSpec parse_task(const nlohmann::json& j, const std::string& where);
// Words a word-level vocabulary needs for this task (templates and the chat template).
std::vector<std::string> task_words(const TaskSpec& t, const ChatTemplate& chat);
// Tasks scored by generating an answer: passkey, facts, babi, instruction.
bool task_is_generative(const TaskSpec& t);

// Draws samples from a weighted mixture of tasks. Data files (shards, JSONL) are read once here.
class TaskMixer {
 public:
  TaskMixer(std::vector<TaskSpec> tasks, const TextCodec& codec, const RCCSettings& settings);
  ~TaskMixer();
  // One example of a generative task `i`. `index` >= 0 picks that row of an instruction task or
  // question of a bAbI file (evaluation walks them in order); otherwise rows are drawn at random.
  TaskExample example(size_t i, Rng& rng, int64_t index = -1) const;
  // A task chosen by weight, then one of its training samples.
  Sample sample(Rng& rng) const;
  const std::vector<TaskSpec>& tasks() const { return tasks_; }
  const RCCSettings& settings() const { return settings_; }
  const TextCodec& codec() const { return codec_; }
  // Rows of instruction task i, questions of a bAbI-file task i (0 for other kinds).
  int64_t rows(size_t i) const;
  // The token corpus of a text task (reconstruction evaluation), or null.
  const TokenCorpus* corpus(size_t i) const;

 private:
  struct Data;
  std::vector<TaskSpec> tasks_;
  const TextCodec& codec_;
  RCCSettings settings_;
  std::vector<std::unique_ptr<Data>> data_;
  double total_weight_ = 0;
};

}  // namespace rcc
