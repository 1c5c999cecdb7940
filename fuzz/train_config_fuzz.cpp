// libFuzzer target: arbitrary bytes as a training config (`rcc train --config FILE.json`;
// train/train_config.h, TrainConfig::parse, which reaches the model config, rcc settings and task
// parsers: model/config.h, rcc/settings.h, tasks/tasks.h).
// Contract: parse either returns a config or throws rcc::Error; any other exception, a crash, a
// sanitizer report or a leak is a finding. A config that parses must hold at least one task, its
// loop settings inside the documented ranges, and give every task's vocabulary words (the word
// vocabulary a run would build) without failing.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "train/train_config.h"

namespace {
constexpr const char* kTarget = "train_config_fuzz";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_rcc_errors(kTarget, [&] {
    const TrainConfig c = TrainConfig::parse(text, "train.json");
    FUZZ_REQUIRE(kTarget, !c.tasks.empty(), "no tasks");
    FUZZ_REQUIRE(kTarget, c.train.steps >= 1 && c.train.batch_size >= 1 && c.train.grad_accum >= 1,
                 "loop sizes below 1");
    FUZZ_REQUIRE(kTarget, c.train.schedule.total == c.train.steps, "schedule total != steps");
    FUZZ_REQUIRE(kTarget, c.model.rcc.window % c.model.rcc.ratio == 0, "rcc settings invalid");
    for (const auto* list : {&c.tasks, &c.eval})
      for (const TaskSpec& t : *list) {
        FUZZ_REQUIRE(kTarget, t.weight >= 0 && t.loss_weight > 0, "task weights out of range");
        for (const std::string& w : task_words(t, c.model.rcc.chat)) (void)w.size();
        (void)task_is_generative(t);
      }
  });
  return 0;
}
