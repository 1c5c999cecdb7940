// A task example (spec §6.6): a context that the encoder compresses, a decoder prompt that
// carries no loss, and the answer the decoder is trained to produce (loss on it, usually ending
// with eos).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/sample.h"

namespace rcc {

struct TaskExample {
  std::vector<int32_t> context;
  std::vector<int32_t> prompt;
  std::vector<int32_t> answer;
  std::string answer_text;  // what evaluation compares against (e.g. the key "40312")
};

// tokens = prompt + answer; weight 1 on the answer tokens, 0 on the prompt. With an empty prompt
// and no context the first answer token cannot be predicted and gets weight 0.
Sample to_sample(const TaskExample& e);

}  // namespace rcc
