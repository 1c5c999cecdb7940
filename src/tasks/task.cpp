#include "tasks/task.h"

namespace rcc {

Sample to_sample(const TaskExample& e) {
  Sample s;
  s.context = e.context;
  s.tokens = e.prompt;
  s.tokens.insert(s.tokens.end(), e.answer.begin(), e.answer.end());
  s.weights.assign(e.prompt.size(), 0.0f);
  s.weights.resize(s.tokens.size(), 1.0f);
  if (e.context.empty() && e.prompt.empty() && !s.weights.empty()) s.weights[0] = 0.0f;
  return s;
}

}  // namespace rcc
