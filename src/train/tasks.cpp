#include "train/tasks.h"

#include <set>

#include "core/error.h"
#include "train/json_fields.h"

namespace rcc {

namespace {

PasskeyConfig parse_passkey(const JsonFields& f) {
  PasskeyConfig c;
  f.get_int("min_tokens", &c.min_tokens, 1, int64_t(1) << 30);
  f.get_int("max_tokens", &c.max_tokens, 1, int64_t(1) << 30);
  int64_t digits = c.digits;
  f.get_int("digits", &digits, 1, 18);
  c.digits = int(digits);
  f.get_double("min_depth", &c.min_depth, 0, 1);
  f.get_double("max_depth", &c.max_depth, 0, 1);
  f.get_string("filler", &c.filler);
  f.get_string("needle", &c.needle);
  f.get_string("question", &c.question);
  f.get_string("answer", &c.answer);
  RCC_CHECK(c.min_tokens <= c.max_tokens, f.where(), ": min_tokens > max_tokens");
  RCC_CHECK(c.min_depth <= c.max_depth, f.where(), ": min_depth > max_depth");
  return c;
}

}  // namespace

TaskSpec parse_task(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  TaskSpec t;
  t.options = j;
  f.require_string("kind", &t.kind);
  f.get_double("weight", &t.weight, 0, 1e9);
  if (t.kind == "passkey") {
    t.passkey = parse_passkey(f);
  } else {
    fail(where, ": unknown task kind '", t.kind, "' (passkey)");
  }
  f.check_all_used();
  return t;
}

std::vector<std::string> task_words(const TaskSpec& t) {
  if (t.kind == "passkey") return passkey_words(t.passkey);
  return {};
}

bool task_is_generative(const TaskSpec& t) {
  return t.kind == "passkey";
}

TaskMixer::TaskMixer(std::vector<TaskSpec> tasks, const TextCodec& codec)
    : tasks_(std::move(tasks)), codec_(codec) {
  RCC_CHECK(!tasks_.empty(), "no training tasks");
  for (const TaskSpec& t : tasks_) total_weight_ += t.weight;
  RCC_CHECK(total_weight_ > 0, "task weights sum to 0");
}

TaskExample TaskMixer::example(size_t i, Rng& rng) const {
  const TaskSpec& t = tasks_.at(i);
  if (t.kind == "passkey") return make_passkey(t.passkey, codec_, rng);
  fail("task kind '", t.kind, "' cannot make examples");
}

Sample TaskMixer::sample(Rng& rng) const {
  double r = rng.uniform() * total_weight_;
  size_t i = 0;
  while (i + 1 < tasks_.size() && r >= tasks_[i].weight) r -= tasks_[i++].weight;
  return to_sample(example(i, rng));
}

}  // namespace rcc
