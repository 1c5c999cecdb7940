#include "train/evaluate.h"

#include <cctype>
#include <chrono>

#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"

namespace rcc {

namespace {

std::string first_digit_run(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::string r;
  // Digits may be separated by single spaces (a word-level vocabulary decodes "1 2 3").
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isdigit(c))
      r += char(c);
    else if (!(c == ' ' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))))
      break;
    ++i;
  }
  return r;
}

}  // namespace

std::string normalize_answer(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      if (space && !out.empty()) out += ' ';
      out += char(std::tolower(c));
      space = false;
    } else if (std::isspace(c)) {
      space = true;
    }
  }
  return out;
}

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j;
  j["task"] = task;
  j["samples"] = samples;
  j["correct"] = correct;
  j["accuracy"] = accuracy;
  j["seconds"] = seconds;
  nlohmann::json ex = nlohmann::json::array();
  for (const EvalExample& e : examples)
    ex.push_back({{"expected", e.expected}, {"got", e.got}, {"correct", e.correct}});
  j["examples"] = ex;
  return j;
}

EvalResult evaluate_task(const RCCModel& model, const TextCodec& codec, const TaskMixer& tasks,
                         size_t task, int64_t samples, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const TaskSpec& spec = tasks.tasks().at(task);
  RCC_CHECK(task_is_generative(spec), "task '", spec.kind, "' is not scored by generation");
  EvalResult r;
  r.task = spec.kind;
  Rng rng(seed);
  Compressor comp(model);
  for (int64_t i = 0; i < samples; ++i) {
    const TaskExample e = tasks.example(task, rng);
    RCC_CHECK(!e.context.empty() && !e.prompt.empty(), "evaluation needs a context and a prompt");
    const Memory mem = comp.compress(e.context, WindowMode::Aligned);
    DecoderMemory dm(model);
    dm.extend(mem, 0, mem.slots());
    GenerateParams gp;
    gp.max_new_tokens = int64_t(e.answer.size()) + 8;
    gp.stop_ids = {codec.eos()};
    GenerateResult g = dm.generate(e.prompt, gp);
    if (g.stopped && !g.ids.empty()) g.ids.pop_back();
    EvalExample ex;
    ex.got = codec.decode(g.ids);
    ex.expected = e.answer_text;
    ex.correct = spec.kind == "passkey"
                     ? first_digit_run(ex.got) == e.answer_text
                     : normalize_answer(ex.got) == normalize_answer(e.answer_text);
    r.correct += ex.correct;
    if (r.examples.size() < 5) r.examples.push_back(ex);
  }
  r.samples = samples;
  r.accuracy = samples ? double(r.correct) / double(samples) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace rcc
