#include "tasks/tasks.h"

#include "core/error.h"
#include "core/json_fields.h"
#include "tasks/qa_format.h"

namespace rcc {

namespace {

const int64_t kBig = int64_t(1) << 30;

std::vector<std::string> string_list(const JsonFields& f, const std::string& k) {
  const nlohmann::json& v = f.get(k);
  if (v.is_null()) return {};
  if (v.is_string()) return {v.get<std::string>()};
  RCC_CHECK(v.is_array(), f.where(), ": '", k, "' must be a path or a list of paths");
  std::vector<std::string> out;
  for (const auto& x : v) {
    RCC_CHECK(x.is_string(), f.where(), ": '", k, "' must be a path or a list of paths");
    out.push_back(x.get<std::string>());
  }
  return out;
}

void parse_passkey(const JsonFields& f, TaskSpec& t) {
  PasskeyConfig& c = t.passkey;
  f.get_int("min_tokens", &c.min_tokens, 1, kBig);
  f.get_int("max_tokens", &c.max_tokens, 1, kBig);
  int64_t digits = c.digits;
  f.get_int("digits", &digits, 1, 18);
  c.digits = int(digits);
  f.get_double("min_depth", &c.min_depth, 0, 1);
  f.get_double("max_depth", &c.max_depth, 0, 1);
  f.get_string("filler", &c.filler);
  f.get_string("needle", &c.needle);
  f.get_string("question", &c.question);
  f.get_string("answer", &c.answer);
  f.get_string("mode", &c.mode);
  f.get_string("chat_question", &c.chat_question);
  f.get_string("chat_answer", &c.chat_answer);
  RCC_CHECK(c.mode == "plain" || c.mode == "manual" || c.mode == "ir", f.where(),
            ": mode must be \"plain\", \"manual\" or \"ir\"");
  t.haystack = string_list(f, "haystack");
  RCC_CHECK(c.min_tokens <= c.max_tokens, f.where(), ": min_tokens > max_tokens");
  RCC_CHECK(c.min_depth <= c.max_depth, f.where(), ": min_depth > max_depth");
}

// facts / babi inside real text.
void parse_placement(const JsonFields& f, TaskSpec& t) {
  t.haystack = string_list(f, "haystack");
  f.get_int("haystack_min_tokens", &t.placement.min_tokens, 1, kBig);
  f.get_int("haystack_max_tokens", &t.placement.max_tokens, 1, kBig);
  f.get_double("min_depth", &t.placement.min_depth, 0, 1);
  f.get_double("max_depth", &t.placement.max_depth, 0, 1);
  RCC_CHECK(t.placement.min_tokens <= t.placement.max_tokens &&
                t.placement.min_depth <= t.placement.max_depth,
            f.where(), ": haystack_min_tokens/min_depth must not exceed the maxima");
}

void parse_mode(const JsonFields& f, std::string* mode, bool mixed_ok) {
  f.get_string("mode", mode);
  RCC_CHECK(*mode == "manual" || *mode == "ir" || (mixed_ok && *mode == "mixed"), f.where(),
            ": mode must be \"manual\" or \"ir\"", mixed_ok ? " or \"mixed\"" : "");
}

void parse_text(const JsonFields& f, TaskSpec& t) {
  TextTaskConfig& c = t.text;
  c.data = string_list(f, "data");
  RCC_CHECK(!c.data.empty(), f.where(), ": '", t.kind, "' needs \"data\": token shards");
  if (t.kind == "lm") f.get_int("tokens", &c.tokens, 1, kBig);
  if (t.kind == "reconstruction") {
    f.get_int("context_tokens", &c.context_tokens, 0, kBig);
    f.get_int("min_span", &c.min_span, 1, kBig);
    f.get_int("max_span", &c.max_span, 1, kBig);
    f.get_int("min_cue", &c.min_cue, 0, kBig);
    f.get_int("max_cue", &c.max_cue, 0, kBig);
    RCC_CHECK(c.min_span <= c.max_span && c.min_cue <= c.max_cue, f.where(),
              ": min_span/min_cue must not exceed max_span/max_cue");
  }
  if (t.kind == "continuation") {
    f.get_int("min_context", &c.min_context, 0, kBig);
    f.get_int("max_context", &c.max_context, 0, kBig);
    f.get_int("target_tokens", &c.target_tokens, 1, kBig);
  }
}

}  // namespace

TaskSpec parse_task(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  TaskSpec t;
  t.options = j;
  f.require_string("kind", &t.kind);
  f.get_double("weight", &t.weight, 0, 1e9);
  f.get_double("loss_weight", &t.loss_weight, 1e-3, 1e3);
  if (t.kind == "passkey") {
    parse_passkey(f, t);
  } else if (t.kind == "facts") {
    parse_placement(f, t);
    f.get_int("facts", &t.facts.facts, 1, 16);
    f.get_int("min_tokens", &t.facts.min_tokens, 1, kBig);
    f.get_int("max_tokens", &t.facts.max_tokens, 1, kBig);
    parse_mode(f, &t.facts.mode, false);
  } else if (t.kind == "babi") {
    f.get_int("min_tokens", &t.babi.min_tokens, 1, kBig);
    f.get_int("max_tokens", &t.babi.max_tokens, 1, kBig);
    f.get_bool("two_facts", &t.babi.two_facts);
    f.get_string("data", &t.babi.data);
    parse_placement(f, t);
    parse_mode(f, &t.babi.mode, false);
  } else if (t.kind == "lm" || t.kind == "reconstruction" || t.kind == "continuation") {
    parse_text(f, t);
  } else if (t.kind == "instruction") {
    f.require_string("data", &t.instruction.data);
    parse_mode(f, &t.instruction.mode, true);
    f.get_int("max_context_tokens", &t.instruction.max_context_tokens, 0, kBig);
  } else {
    fail(where, ": unknown task kind '", t.kind,
         "' (passkey, facts, babi, lm, reconstruction, continuation, instruction)");
  }
  f.check_all_used();
  return t;
}

std::vector<std::string> task_words(const TaskSpec& t, const ChatTemplate& chat) {
  std::vector<std::string> w;
  if (t.kind == "passkey") w = passkey_words(t.passkey);
  if (t.kind == "passkey" && t.passkey.mode != "plain")
    for (const std::string& x : chat_words(chat)) w.push_back(x);
  if (t.kind == "facts") w = facts_words();
  if (t.kind == "babi") w = babi_words();
  if (t.kind == "facts" || t.kind == "babi" || t.kind == "instruction")
    for (const std::string& x : chat_words(chat)) w.push_back(x);
  return w;
}

bool task_is_generative(const TaskSpec& t) {
  return t.kind == "passkey" || t.kind == "facts" || t.kind == "babi" || t.kind == "instruction";
}

struct TaskMixer::Data {
  std::unique_ptr<TokenCorpus> corpus;  // text tasks
  std::vector<int32_t> haystack;        // passkey filler / facts, babi placement
  Haystack placement;                   // facts, babi
  std::vector<InstructionRow> rows;     // instruction
  std::vector<BabiQuestion> babi;       // babi from a file
};

TaskMixer::TaskMixer(std::vector<TaskSpec> tasks, const TextCodec& codec,
                     const RCCSettings& settings)
    : tasks_(std::move(tasks)), codec_(codec), settings_(settings) {
  for (const TaskSpec& t : tasks_) {
    total_weight_ += t.weight;
    auto d = std::make_unique<Data>();
    auto open = [&](const std::vector<std::string>& paths) {
      auto c = std::make_unique<TokenCorpus>(TokenCorpus::open(paths, &codec));
      RCC_CHECK(c->info().vocab_size <= codec.vocab_size(), "task '", t.kind,
                "': shards of a vocabulary of ", c->info().vocab_size, " tokens, the model's has ",
                codec.vocab_size());
      return c;
    };
    if (!t.text.data.empty()) d->corpus = open(t.text.data);
    if (!t.haystack.empty()) {
      // The haystack: one stretch of real text (at most 16M tokens of one shard), read once.
      const auto c = open(t.haystack);
      Rng first(0);
      d->haystack = c->span(std::min<int64_t>(c->largest_shard(), int64_t(1) << 24), first);
      d->placement = t.placement;
      d->placement.text = d->haystack;
    }
    if (t.kind == "instruction") d->rows = read_instruction_jsonl(t.instruction.data);
    if (t.kind == "babi" && !t.babi.data.empty()) d->babi = read_babi_file(t.babi.data);
    data_.push_back(std::move(d));
  }
}

TaskMixer::~TaskMixer() = default;

int64_t TaskMixer::rows(size_t i) const {
  return int64_t(data_.at(i)->rows.size() + data_.at(i)->babi.size());
}

const TokenCorpus* TaskMixer::corpus(size_t i) const {
  return data_.at(i)->corpus.get();
}

TaskExample TaskMixer::example(size_t i, Rng& rng, int64_t index) const {
  const TaskSpec& t = tasks_.at(i);
  const Data& d = *data_[i];
  if (t.kind == "passkey")
    return make_passkey(t.passkey, codec_, rng, d.haystack.empty() ? nullptr : &d.haystack,
                        &settings_.chat);
  const Haystack* placed = d.placement.text.empty() ? nullptr : &d.placement;
  if (t.kind == "facts") return make_facts(t.facts, settings_.chat, codec_, rng, placed);
  if (t.kind == "babi" && !d.babi.empty()) {
    const size_t q = index >= 0 ? size_t(index) % d.babi.size() : rng.below(d.babi.size());
    return make_babi_question(d.babi[q], t.babi.mode, settings_.chat, codec_, rng, placed);
  }
  if (t.kind == "babi") return make_babi(t.babi, settings_.chat, codec_, rng, placed);
  if (t.kind == "instruction") {
    const size_t row = index >= 0 ? size_t(index) % d.rows.size() : rng.below(d.rows.size());
    return make_instruction(t.instruction, d.rows[row], settings_.chat, codec_, rng);
  }
  fail("task '", t.kind, "' has no question/answer examples");
}

Sample TaskMixer::sample(Rng& rng) const {
  double r = rng.uniform() * total_weight_;
  size_t i = 0;
  while (i + 1 < tasks_.size() && r >= tasks_[i].weight) r -= tasks_[i++].weight;
  const TaskSpec& t = tasks_[i];
  const int64_t W = settings_.window;
  Sample s;
  if (t.kind == "lm")
    s = make_lm_sample(t.text, *data_[i]->corpus, rng);
  else if (t.kind == "reconstruction")
    s = make_reconstruction_sample(t.text, *data_[i]->corpus, W, rng);
  else if (t.kind == "continuation")
    s = make_continuation_sample(t.text, *data_[i]->corpus, W, rng);
  else
    s = to_sample(example(i, rng));
  s.task = int32_t(i);
  if (t.loss_weight != 1.0)
    for (float& w : s.weights) w = float(double(w) * t.loss_weight);
  return s;
}

}  // namespace rcc
