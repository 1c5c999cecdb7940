#include "tasks/evaluate.h"

#include <cctype>
#include <chrono>

#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "tasks/metrics.h"
#include "tasks/qa_format.h"

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

// Greedy generation after the memory of `context`.
std::vector<int32_t> answer(const RCCModel& model, Compressor& comp,
                            const std::vector<int32_t>& context, const std::vector<int32_t>& prompt,
                            const GenerateParams& gp) {
  const Memory mem = comp.compress(context, WindowMode::Aligned);
  DecoderMemory dm(model);
  dm.extend(mem, 0, mem.slots());
  GenerateResult g = dm.generate(prompt, gp);
  if (g.stopped && !g.ids.empty()) g.ids.pop_back();
  return g.ids;
}

}  // namespace

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j;
  j["task"] = task;
  j["samples"] = samples;
  j["correct"] = correct;
  j["accuracy"] = accuracy;
  if (f1 >= 0) j["f1"] = f1;
  if (rouge_l >= 0) j["rouge_l"] = rouge_l;
  if (bleu4 >= 0) j["bleu4"] = bleu4;
  j["seconds"] = seconds;
  nlohmann::json ex = nlohmann::json::array();
  for (const EvalExample& e : examples)
    ex.push_back({{"expected", e.expected}, {"got", e.got}, {"correct", e.correct}});
  j["examples"] = ex;
  return j;
}

EvalResult evaluate_task(const RCCModel& model, const TaskMixer& tasks, size_t task,
                         int64_t samples, uint64_t seed, int64_t cue) {
  const auto t0 = std::chrono::steady_clock::now();
  const TaskSpec& spec = tasks.tasks().at(task);
  const TextCodec& codec = tasks.codec();
  EvalResult r;
  r.task = spec.kind;
  Rng rng(seed);
  Compressor comp(model);
  auto keep = [&](EvalExample ex) {
    r.correct += ex.correct;
    if (r.examples.size() < 5) r.examples.push_back(std::move(ex));
  };
  if (spec.kind == "reconstruction") {
    const TokenCorpus* corpus = tasks.corpus(task);
    RCC_CHECK(corpus, "reconstruction evaluation needs token shards");
    const int64_t W = model.settings.window;
    RCC_CHECK(cue >= 1 && cue < W, "reconstruction: cue must lie in [1, W)");
    std::vector<std::vector<int32_t>> cands, refs;
    for (int64_t i = 0; i < samples; ++i) {
      const std::vector<int32_t> window = corpus->span(W, rng);
      const std::vector<int32_t> prompt(window.begin(), window.begin() + cue),
          truth(window.begin() + cue, window.end());
      GenerateParams gp;
      gp.max_new_tokens = int64_t(truth.size());
      const std::vector<int32_t> got = answer(model, comp, window, prompt, gp);
      keep({codec.decode(truth), codec.decode(got), got == truth});
      cands.push_back(got);
      refs.push_back(truth);
    }
    r.samples = samples;
    r.bleu4 = bleu4(cands, refs);
  } else {
    RCC_CHECK(task_is_generative(spec), "task '", spec.kind, "' is not scored by generation");
    const bool walk_rows = tasks.rows(task) > 0;  // instruction rows, bAbI-file questions
    const int64_t n = walk_rows ? std::min<int64_t>(samples, tasks.rows(task)) : samples;
    double f1 = 0, rl = 0;
    for (int64_t i = 0; i < n; ++i) {
      const TaskExample e = tasks.example(task, rng, walk_rows ? i : -1);
      RCC_CHECK(!e.context.empty() && !e.prompt.empty(), "evaluation needs a context and a prompt");
      GenerateParams gp;
      gp.max_new_tokens = int64_t(e.answer.size()) + 8;
      gp.stop_ids = {codec.eos()};
      const std::vector<int32_t> got = answer(model, comp, e.context, e.prompt, gp);
      EvalExample ex;
      ex.expected = e.answer_text;
      if (spec.kind == "passkey") {
        ex.got = spec.passkey.mode == "plain" ? codec.decode(got)
                                              : answer_of(got, tasks.settings().chat, codec);
        ex.correct = first_digit_run(ex.got) == e.answer_text;
      } else {
        ex.got = answer_of(got, tasks.settings().chat, codec);
        ex.correct = normalize_answer(ex.got) == normalize_answer(e.answer_text);
        f1 += token_f1(ex.got, e.answer_text);
        rl += rouge_l(ex.got, e.answer_text);
      }
      keep(std::move(ex));
    }
    r.samples = n;
    if (spec.kind != "passkey" && n > 0) {
      r.f1 = f1 / double(n);
      r.rouge_l = rl / double(n);
    }
  }
  r.accuracy = r.samples ? double(r.correct) / double(r.samples) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace rcc
