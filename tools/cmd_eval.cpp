// rcc eval passkey|facts|babi|reconstruct|qa --model DIR [--samples N] [--seed S] [--json] [...]
// Scores a trained RCC model on held-out examples of a task (src/tasks/evaluate.h), with the task
// settings the model was trained with (DIR/train.json) unless overridden.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/json_fields.h"
#include "core/progress.h"
#include "core/text_file.h"
#include "output.h"
#include "tasks/evaluate.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc eval passkey|facts|babi|reconstruct|qa [--model DIR] [--samples N] [--seed S]\n"
    "                [--json] [settings]\n"
    "Scores a trained RCC model on held-out examples: the context is compressed, the decoder\n"
    "answers greedily, the answer is compared with the truth. Task settings default to the\n"
    "model's DIR/eval.json (its task of that kind; data paths relative to DIR), else to those it\n"
    "was trained with (DIR/train.json: its eval task of that kind, else its training task).\n"
    "  passkey      accuracy (the key's digits)\n"
    "  facts, babi  accuracy (normalised exact match), token F1, ROUGE-L\n"
    "  reconstruct  BLEU-4 and exact match of a window regenerated from its first --cue tokens\n"
    "               (--data: held-out text, token shards or .txt/.txt.gz files)\n"
    "  qa           --data FILE.jsonl rows {input, prompt, answer}: accuracy (exact match), token\n"
    "               F1, ROUGE-L; --mode manual|ir (default: the training task's, else manual)\n"
    "  --model DIR          default: $RCC_MODEL, else the bundled models/rcc-tiny\n"
    "  --samples N          examples (default 100; qa: the first N rows)\n"
    "  --seed S             generator seed of the examples (default 20240607)\n"
    "  --min-tokens N, --max-tokens N   context length range\n"
    "  --digits N           passkey length\n"
    "  --min-depth X, --max-depth X     needle depth range (0..1)\n"
    "  --mode manual|ir     how the question reaches the decoder (facts, babi, qa)\n"
    "  --data PATH          qa: JSONL; babi: a bAbI story file; reconstruct: token shards or\n"
    "                       .txt/.txt.gz text (file, directory or prefix*)\n"
    "  --cue N              reconstruct: tokens given to the decoder (default 16)\n"
    "  --set k=v[,k=v]      any other field of the task object (numbers, true/false, or text)\n"
    "  --device D           cpu (default), cuda or cuda:N (builds with CUDA)\n"
    "  --encoder-precision bf16|fp8   the encoder's matrix products (fp8: cuda on Hopper)\n"
    "  --json               one JSON object: accuracy, correct, samples, settings, examples\n"
    "  --quiet, --progress  no progress on stderr / progress even when it is not a terminal\n";

// Where a task's default settings come from, and the settings themselves.
struct Defaults {
  nlohmann::json task;
  std::string origin;  // the file they were read from, or "" for the task's built-in defaults
};

// The first task object of `kind` in the lists `lists` of the JSON file `path`, if any.
std::optional<nlohmann::json> task_in(const std::string& path, const std::string& kind,
                                      std::initializer_list<const char*> lists) {
  const nlohmann::json j = read_json_file(path);
  for (const char* list : lists)
    if (j.contains(list) && j[list].is_array())
      for (const auto& t : j[list])
        if (t.is_object() && t.value("kind", "") == kind) return t;
  return std::nullopt;
}

// Relative data paths of an eval.json task resolved against the model directory, so that the
// defaults work from any working directory.
void resolve_paths(nlohmann::json& task, const std::filesystem::path& dir) {
  auto resolve = [&](nlohmann::json& v) {
    if (v.is_string() && !v.get<std::string>().empty() &&
        std::filesystem::path(v.get<std::string>()).is_relative())
      v = (dir / v.get<std::string>()).lexically_normal().string();
  };
  for (const char* key : {"data", "haystack"}) {
    if (!task.contains(key)) continue;
    if (task[key].is_array())
      for (auto& v : task[key]) resolve(v);
    else
      resolve(task[key]);
  }
}

// The model's evaluation defaults for `kind`: DIR/eval.json (paths relative to DIR), else the
// task the model was trained with (DIR/train.json: its eval list, then its tasks; paths as the
// training run saw them), else {"kind": kind}.
Defaults default_settings(const std::string& dir, const std::string& kind) {
  const std::filesystem::path d(dir);
  if (const auto p = (d / "eval.json").string(); std::filesystem::exists(p))
    if (auto t = task_in(p, kind, {"eval"})) {
      resolve_paths(*t, d);
      return {*t, p};
    }
  if (const auto p = (d / "train.json").string(); std::filesystem::exists(p))
    if (auto t = task_in(p, kind, {"eval", "tasks"})) return {*t, p};
  return {{{"kind", kind}}, ""};
}

nlohmann::json parse_value(const std::string& v) {
  if (v == "true" || v == "false") return v == "true";
  char* end = nullptr;
  const long long i = std::strtoll(v.c_str(), &end, 10);
  if (!v.empty() && *end == 0) return i;
  const double d = std::strtod(v.c_str(), &end);
  if (!v.empty() && *end == 0) return d;
  return v;
}

}  // namespace

int cmd_eval(int argc, char** argv) {
  Args a(argc, argv,
         {"model", "samples", "seed", "min-tokens", "max-tokens", "digits", "min-depth",
          "max-depth", "set", "threads", "mode", "data", "cue", "device", "encoder-precision"},
         {"json", "quiet", "help"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.positional().size() != 1)
    throw UsageError("give one task: passkey, facts, babi, reconstruct or qa");
  const std::string name = a.positional()[0];
  const std::string kind = name == "reconstruct" ? "reconstruction"
                           : name == "qa"        ? "instruction"
                                                 : name;
  if (kind != "passkey" && kind != "facts" && kind != "babi" && kind != "reconstruction" &&
      kind != "instruction")
    throw UsageError("unknown evaluation task '" + name +
                     "' (passkey, facts, babi, reconstruct, qa)");
  init_runtime(a);
  Progress::set_quiet_default(a.has("quiet"));
  const std::string dir = model_dir(a);
  const int64_t samples = a.get_int("samples", 100, 1, 1 << 24);
  const uint64_t seed = uint64_t(a.get_int("seed", 20240607, 0, INT64_MAX));

  const Defaults defaults = default_settings(dir, kind);
  nlohmann::json settings = defaults.task;
  settings.erase("weight");
  if (auto m = a.get("mode")) settings["mode"] = *m;
  if (kind == "instruction" && !settings.contains("mode")) settings["mode"] = "manual";
  if (auto d = a.get("data")) settings["data"] = *d;
  if (kind == "instruction" && !settings.contains("data"))
    throw UsageError("qa needs --data FILE.jsonl (rows {input, prompt, answer})");
  for (const char* k : {"min-tokens", "max-tokens", "digits"})
    if (a.has(k)) {
      std::string key = k;
      std::replace(key.begin(), key.end(), '-', '_');
      settings[key] = a.get_int(k, 0, 0, INT64_MAX);
    }
  for (const char* k : {"min-depth", "max-depth"})
    if (a.has(k)) {
      std::string key = k;
      std::replace(key.begin(), key.end(), '-', '_');
      settings[key] = a.get_double(k, 0);
    }
  if (auto s = a.get("set")) {
    std::stringstream ss(*s);
    std::string kv;
    while (std::getline(ss, kv, ',')) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UsageError("--set expects k=v[,k=v], got '" + kv + "'");
      settings[kv.substr(0, eq)] = parse_value(kv.substr(eq + 1));
    }
  }
  const TaskSpec spec = parse_task(settings, "eval settings");

  Progress load("loaded model " + dir, 1, "");
  const RCCModel model = RCCModel::load(dir, device_backend(a), encoder_precision(a));
  load.finish(1);
  std::unique_ptr<TextCodec> codec = load_codec(dir);
  RCC_CHECK(codec, dir, ": no vocab.json or tokenizer.json beside the model");
  // Task data (haystacks, story files, held-out text) is opened here: a missing file names the
  // settings it came from and how to point elsewhere.
  std::unique_ptr<TaskMixer> tasks;
  try {
    tasks = std::make_unique<TaskMixer>(std::vector<TaskSpec>{spec}, *codec, model.settings);
  } catch (const Error& e) {
    fail(e.what(),
         defaults.origin.empty() ? std::string() : "; task settings from " + defaults.origin,
         " (override with --data PATH or --set haystack=PATH)");
  }
  const EvalResult r =
      evaluate_task(model, *tasks, 0, samples, seed, a.get_int("cue", 16, 1, INT64_MAX));
  if (a.has("json")) {
    nlohmann::json j = r.to_json();
    j["settings"] = settings;
    j["seed"] = seed;
    j["model"] = dir;
    print_json(j);
  } else {
    std::printf("%s: accuracy %.4f (%lld/%lld)", name.c_str(), r.accuracy, (long long)r.correct,
                (long long)r.samples);
    if (r.f1 >= 0) std::printf(", F1 %.4f, ROUGE-L %.4f", r.f1, r.rouge_l);
    if (r.bleu4 >= 0) std::printf(", BLEU-4 %.4f", r.bleu4);
    std::printf(" in %.1f s\n", r.seconds);
    for (const EvalExample& e : r.examples)
      std::printf("  expected %-12s got %s%s\n", e.expected.substr(0, 200).c_str(),
                  e.got.substr(0, 200).c_str(), e.correct ? "" : "   (wrong)");
  }
  return 0;
}

}  // namespace rcc::cli
