#include "train/train_config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"

namespace rcc {

using json = nlohmann::json;

namespace {

ModelInit parse_model(const json& j, const std::string& src) {
  JsonFields f(j, src + ": model");
  ModelInit m;
  f.get_string("init", &m.kind);
  RCC_CHECK(m.kind == "random" || m.kind == "base" || m.kind == "gpt_neox" || m.kind == "rcc",
            f.where(), ": init must be \"random\", \"base\" or \"rcc\", got '", m.kind, "'");
  if (m.kind == "gpt_neox") m.kind = "base";  // the older name of "base"
  f.get_string("from", &m.from);
  RCC_CHECK(m.kind == "random" || !m.from.empty(), f.where(), ": init '", m.kind,
            "' needs \"from\": a model directory");
  const json& cfg = f.get("config");
  if (m.kind == "random") {
    RCC_CHECK(cfg.is_object(), f.where(),
              ": init \"random\" needs a \"config\" object (GPT-NeoX "
              "config.json fields)");
    json c = cfg;
    const bool auto_vocab = !c.contains("vocab_size") || c["vocab_size"] == "auto";
    if (auto_vocab) c["vocab_size"] = 1;
    m.config = ModelConfig::parse(c.dump(), src + ": model.config");
    if (auto_vocab) m.config.vocab_size = 0;  // the vocabulary's size, decided later
  } else {
    RCC_CHECK(cfg.is_null(), f.where(), ": \"config\" only applies to init \"random\"");
  }
  const json& r = f.get("rcc");
  if (!r.is_null()) {
    RCC_CHECK(m.kind != "rcc", f.where(),
              ": \"rcc\" settings come from the checkpoint with init \"rcc\"");
    m.rcc = RCCSettings::parse(r.dump(), src + ": model.rcc");
  }
  f.get_u64("seed", &m.seed);
  f.get_double("init_std", &m.init_std, 0, 10);
  m.projections = m.kind == "base" ? "identity" : "normal";
  f.get_string("projections", &m.projections);
  RCC_CHECK(m.projections == "normal" || m.projections == "identity", f.where(),
            ": projections must be \"normal\" or \"identity\"");
  f.check_all_used();
  return m;
}

TrainLoop parse_loop(const json& j, const std::string& src) {
  JsonFields f(j, src + ": train");
  TrainLoop t;
  const int64_t big = int64_t(1) << 40;
  f.get_int("steps", &t.steps, 1, big);
  f.get_int("batch_size", &t.batch_size, 1, 1 << 20);
  f.get_int("grad_accum", &t.grad_accum, 1, 1 << 20);
  f.get_int("max_pass_tokens", &t.max_pass_tokens, 0, int64_t(1) << 40);
  f.get_double("lr", &t.schedule.lr, 0, 10);
  t.schedule.min_lr = t.schedule.lr * 0.1;
  f.get_double("min_lr", &t.schedule.min_lr, 0, 10);
  f.get_int("warmup", &t.schedule.warmup, 0, big);
  f.get_string("schedule", &t.schedule.kind);
  RCC_CHECK(t.schedule.kind == "cosine" || t.schedule.kind == "constant", f.where(),
            ": schedule must be \"cosine\" or \"constant\"");
  t.schedule.total = t.steps;
  f.get_double("weight_decay", &t.adam.weight_decay, 0, 10);
  f.get_bool("decay_vectors", &t.adam.decay_vectors);
  f.get_double("beta1", &t.adam.beta1, 0, 0.999999);
  f.get_double("beta2", &t.adam.beta2, 0, 0.999999999);
  f.get_double("eps", &t.adam.eps, 0, 1);
  f.get_double("clip", &t.clip, 0, 1e9);
  f.get_u64("seed", &t.seed);
  int64_t threads = 0;
  f.get_int("threads", &threads, 0, 4096);
  t.threads = int(threads);
  f.get_int("log_every", &t.log_every, 1, big);
  f.get_int("eval_every", &t.eval_every, 0, big);
  f.get_int("eval_samples", &t.eval_samples, 0, 1 << 24);
  f.get_u64("eval_seed", &t.eval_seed);
  f.get_int("checkpoint_every", &t.checkpoint_every, 0, big);
  f.check_all_used();
  return t;
}

std::vector<TaskSpec> parse_tasks(const json& j, const std::string& where) {
  RCC_CHECK(j.is_array() && !j.empty(), where, ": expected a non-empty array of task objects");
  std::vector<TaskSpec> v;
  for (size_t i = 0; i < j.size(); ++i)
    v.push_back(parse_task(j[i], where + "[" + std::to_string(i) + "]"));
  return v;
}

}  // namespace

TrainConfig TrainConfig::parse(const std::string& text, const std::string& src) {
  const json j = parse_json(text, src);
  JsonFields f(j, src);
  TrainConfig c;
  c.source = j;
  c.model = parse_model(f.get("model"), src);
  const json& voc = f.get("vocab");
  if (!voc.is_null()) {
    JsonFields v(voc, src + ": vocab");
    v.get_string("kind", &c.vocab.kind);
    v.get_string("path", &c.vocab.path);
    v.check_all_used();
    RCC_CHECK(c.vocab.kind == "words" || c.vocab.kind == "tokenizer", v.where(),
              ": kind must be \"words\" or \"tokenizer\"");
    RCC_CHECK(c.vocab.kind == "words" || !c.vocab.path.empty(), v.where(),
              ": kind \"tokenizer\" needs \"path\" (a tokenizer.json)");
  }
  c.tasks = parse_tasks(f.get("tasks"), src + ": tasks");
  const json& ev = f.get("eval");
  if (!ev.is_null())
    c.eval = parse_tasks(ev, src + ": eval");
  else
    for (const TaskSpec& t : c.tasks)
      if (task_is_generative(t)) c.eval.push_back(t);
  const json& tr = f.get("train");
  if (!tr.is_null()) c.train = parse_loop(tr, src);
  f.check_all_used();
  return c;
}

TrainConfig TrainConfig::load(const std::string& path) {
  return parse(read_text_file(path), path);
}

}  // namespace rcc
