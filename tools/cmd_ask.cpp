// rcc ask --model DIR (--memory X.rccm | --context FILE | --context-ids FILE)
//         [--question TEXT | --questions FILE] [--manual | --ir] [--prompt TEXT | --prompt-ids 1,2]
//         [--mode compat|aligned] [--kv-cache FILE] [--max-new-tokens N] [sampling flags] [--json]
// Answers on stdout (one JSON line per question with --json, with the time of each phase under
// "timings"); progress on stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/progress.h"
#include "inputs.h"
#include "rcc/chat.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"
#include "rcc/memory_file.h"
#include "sampling_flags.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc ask [--model DIR] (--memory X.rccm | --context FILE | --context-ids FILE) "
    "[options]\n"
    "Answers from a compressed context. With --context and --question the question is compressed\n"
    "together with the context (instruction reconstruction, the default); --manual puts it in the\n"
    "decoder prompt instead (the default with --memory).\n"
    "  --model DIR             default: $RCC_MODEL, else the bundled models/rcc-tiny\n"
    "  --question TEXT         the question\n"
    "  --questions FILE        one question per line, answered from one memory prefill (manual)\n"
    "  --manual | --ir         choose the mode; --ir with --memory needs an aligned memory (the\n"
    "                          question is appended to it in-process)\n"
    "  --prompt TEXT, --prompt-ids 1,2,3   replace the decoder prompt (the chat preamble)\n"
    "  --mode compat|aligned   window alignment for --context (default: the model's)\n"
    "  --kv-cache FILE         reuse the decoder cache of the memory from FILE (written when "
    "absent)\n"
    "  --max-new-tokens N      default 128; generation stops at eos\n"
    "  --temperature, --top-k, --top-p, --repetition-penalty, --seed   sampling (default greedy)\n"
    "  --stop-ids 0,5 | --no-stop\n"
    "  --device D              cpu (default), cuda or cuda:N (builds with CUDA)\n"
    "  --kv-8bit               (cuda) keep the memory prefix's keys/values in int8\n"
    "  --threads N, --tokenizer FILE\n"
    "  --quiet, --progress     no progress on stderr / progress even when it is not a terminal\n"
    "  --json                  one JSON line per question: ids, text, answer, ... and the\n"
    "                          \"timings\" in seconds: load_s, tokenize_s, memory_load_s,\n"
    "                          compress_s, prefill_s (the memory's), kv_cache_load_s,\n"
    "                          kv_cache_save_s, prompt_s (the decoder's pass over the\n"
    "                          prompt, up to the first token), generated_tokens, decode_s\n"
    "                          and decode_tokens (the one-token steps after the first),\n"
    "                          decode_tokens_per_s, total_s\n"
    "With --context and no --kv-cache, each window's slots go straight into the decoder's memory\n"
    "prefill (nothing of the memory is kept beyond the decoder cache).\n";

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Asked {
  std::vector<int32_t> prompt;
  bool manual = false;
  std::string question;
};

}  // namespace

int cmd_ask(int argc, char** argv) {
  Args a(argc, argv,
         {"model",          "memory",      "context",    "context-ids", "question",
          "questions",      "prompt",      "prompt-ids", "mode",        "kv-cache",
          "max-new-tokens", "temperature", "top-k",      "top-p",       "repetition-penalty",
          "seed",           "stop-ids",    "threads",    "tokenizer",   "device"},
         {"manual", "ir", "no-stop", "quiet", "json", "help", "kv-8bit"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const Clock::time_point start = Clock::now();
  init_runtime(a);
  const std::string dir = model_dir(a);
  const int sources = a.has("memory") + a.has("context") + a.has("context-ids");
  if (sources != 1) throw UsageError("give exactly one of --memory, --context and --context-ids");
  if (a.has("manual") && a.has("ir")) throw UsageError("--manual and --ir exclude each other");
  if (a.has("prompt") && a.has("prompt-ids"))
    throw UsageError("give at most one of --prompt and --prompt-ids");
  if (a.has("question") && a.has("questions"))
    throw UsageError("give --question or --questions, not both");
  const bool override_prompt = a.has("prompt") || a.has("prompt-ids");
  if (!a.has("question") && !a.has("questions") && !override_prompt)
    throw UsageError("nothing to ask: give --question, --questions or --prompt");
  GenerateParams gp;
  gp.max_new_tokens = a.get_int("max-new-tokens", 128, 0, 1 << 24);
  gp.min_new_tokens = 1;  // as the reference: the first generated token is never tested for eos
  gp.sampling = sampling_from_flags(a);

  // Seconds of each phase, reported under "timings" with --json. On a device each phase ends with
  // a synchronisation so that its time is its own.
  nlohmann::json timings = nlohmann::json::object();
  Progress load("loaded model " + dir, 1, "");
  RCCModel model = RCCModel::load(dir, device_backend(a));
  load.finish(1);
  Backend& be = model.backend();
  const auto sync = [&] {
    if (!be.is_host()) be.synchronize();
  };
  const ChatTemplate& chat = model.settings.chat;
  std::optional<Tokenizer> tok = model_tokenizer(dir, a.get("tokenizer"));
  timings["load_s"] = seconds_since(start);
  const int64_t V = model.decoder.config().vocab_size;
  gp.stop_ids = a.has("no-stop")    ? std::vector<int32_t>{}
                : a.has("stop-ids") ? parse_id_list(a.require("stop-ids"), "stop-ids")
                                    : model.decoder.config().eos_token_ids;
  auto need_tok = [&](const char* why) -> const Tokenizer& {
    RCC_CHECK(tok, dir, ": no tokenizer.json, needed for ", why, " (give --tokenizer FILE)");
    return *tok;
  };

  // Which questions, and is each compressed with the context (IR) or put in the prompt (manual)?
  std::vector<std::string> questions;
  if (auto q = a.get("question")) questions.push_back(*q);
  if (auto f = a.get("questions")) {
    std::istringstream in(read_text(*f));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) questions.push_back(line);
    RCC_CHECK(!questions.empty(), *f, ": no questions");
  }
  const bool ir = !override_prompt && questions.size() == 1 && !a.has("manual") &&
                  (a.has("ir") || a.has("context"));
  RCC_CHECK(!(a.has("ir") && questions.size() != 1), "--ir needs exactly one --question");

  // The memory, and the decoder's cache of the memory prefix: loaded, computed once (and saved
  // when asked), or streamed window by window straight from the encoder into the decoder prefill.
  Memory mem;
  Compressor comp(model);
  DecoderMemory dm(model, a.has("kv-8bit"));
  const auto kv = a.get("kv-cache");
  RCC_CHECK(!(kv && a.has("kv-8bit")),
            "--kv-cache and --kv-8bit exclude each other (saved decoder "
            "caches are f32)");
  const int64_t room = 1024 + gp.max_new_tokens;  // cache positions beyond the memory (prompts)
  int64_t context_tokens = 0;
  bool have_memory = false;  // `mem` holds the slots (else they were streamed)
  Progress prog("compressing", 0, "tokens");
  double compress_s = 0, prefill_s = 0;
  if (auto path = a.get("memory")) {
    Clock::time_point t = Clock::now();
    mem = load_memory_for(*path, model.encoder_fingerprint, model.settings.window,
                          model.settings.ratio);
    timings["memory_load_s"] = seconds_since(t);
    if (ir) {
      RCC_CHECK(mem.mode == WindowMode::Aligned, *path,
                ": --ir needs an aligned memory (compat memories cannot be extended)");
      const std::vector<int32_t> q =
          need_tok("--ir").encode(chat.context_question_separator + questions[0]);
      t = Clock::now();
      comp.append(mem, q);  // the question's windows
      sync();
      compress_s = seconds_since(t);
    }
    have_memory = true;
  } else {
    const Clock::time_point t_tok = Clock::now();
    std::vector<int32_t> ids;
    if (auto f = a.get("context")) {
      std::string text = read_text(*f);
      ids = need_tok("--context").encode(ir ? ir_context(text, questions[0], chat) : text);
    } else {
      ids = read_id_file(a.require("context-ids"));
      if (ir) need_tok("--ir").encode_append(chat.context_question_separator + questions[0], ids);
    }
    check_ids(ids, model.encoder.config().vocab_size, "context");
    RCC_CHECK(!ids.empty(), "the context is empty");
    timings["tokenize_s"] = seconds_since(t_tok);
    const WindowMode mode = a.has("mode") ? parse_mode(a.require("mode")) : model.settings.mode;
    const int64_t n = int64_t(ids.size());
    prog = Progress("compressing", n, "tokens");
    const Clock::time_point t = Clock::now();
    if (kv) {  // the saved decoder cache is keyed by the memory's identity: keep the memory
      mem = comp.compress(ids, mode, [&](int64_t i, int64_t c, const float*, int64_t) {
        prog.update(n * (i + 1) / c);
      });
      sync();
      compress_s = seconds_since(t);
      have_memory = true;
    } else {
      // Streamed: the encoder's windows and the decoder's prefill alternate; the time spent
      // pushing slots into the decoder (and the final flush) is prefill, the rest compression.
      dm.reserve(Compressor::slot_count(ids, model.settings.window, model.settings.ratio, mode) +
                 room);
      comp.stream(ids, mode, [&](int64_t i, int64_t c, const void* slots, int64_t s) {
        sync();
        const Clock::time_point p = Clock::now();
        dm.push(slots, s);
        sync();
        prefill_s += seconds_since(p);
        prog.update(n * (i + 1) / c);
      });
      const Clock::time_point f = Clock::now();
      dm.flush();
      sync();
      prefill_s += seconds_since(f);
      compress_s = seconds_since(t) - prefill_s;
    }
    prog.finish(n);
    context_tokens = n;
  }
  if (have_memory) {
    context_tokens = mem.token_count;
    Progress prefill("decoder memory prefill", mem.slots(), "slots");
    const Clock::time_point t = Clock::now();
    if (kv && std::filesystem::exists(*kv)) {
      load_decoder_cache(*kv, dm, memory_identity(mem), decoder_fingerprint(model));
      sync();
      timings["kv_cache_load_s"] = seconds_since(t);
    } else {
      dm.reserve(mem.slots() + room);
      dm.extend(mem, 0, mem.slots());
      sync();
      prefill_s = seconds_since(t);
      if (kv) {
        const Clock::time_point w = Clock::now();
        save_decoder_cache(*kv, dm, memory_identity(mem), decoder_fingerprint(model));
        timings["kv_cache_save_s"] = seconds_since(w);
      }
    }
    prefill.finish(mem.slots());
  }
  timings["compress_s"] = compress_s;
  timings["prefill_s"] = prefill_s;
  const int64_t memory_slots = dm.length();

  // Prompts.
  std::vector<Asked> asks;
  if (override_prompt) {
    Asked x;
    x.prompt = a.has("prompt-ids") ? parse_id_list(a.require("prompt-ids"), "prompt-ids")
                                   : need_tok("--prompt").encode(a.require("prompt"));
    asks.push_back(x);
  } else {
    for (const auto& q : questions) {
      Asked x;
      x.question = q;
      x.manual = !ir;
      x.prompt = need_tok("questions").encode(ir ? ir_prompt(chat) : manual_prompt(q, chat));
      asks.push_back(x);
    }
  }
  for (auto& x : asks) {
    check_ids(x.prompt, V, "prompt");
    RCC_CHECK(!x.prompt.empty(), "the decoder prompt is empty");
  }

  for (const Asked& x : asks) {
    Progress gen("generating", gp.max_new_tokens, "tokens");
    const Clock::time_point t = Clock::now();
    GenerateResult r = dm.generate(x.prompt, gp);
    sync();
    const double decode_s = seconds_since(t);
    gen.finish(int64_t(r.ids.size()));
    nlohmann::json j;
    j["ids"] = r.ids;
    if (!x.question.empty()) j["question"] = x.question;
    j["mode"] = override_prompt ? "prompt" : x.manual ? "manual" : "instruction-reconstruction";
    j["memory_slots"] = memory_slots;
    j["context_tokens"] = context_tokens;
    j["prompt_tokens"] = x.prompt.size();
    j["stopped"] = r.stopped;
    // generate() times its first step (the prompt's pass, which yields the first token) apart
    // from the one-token steps after it; what remains of the wall time (a device's last sync) is
    // counted with the decode steps.
    const double prompt_s = std::min(r.prompt_seconds, decode_s);
    const int64_t steps = std::max<int64_t>(0, int64_t(r.ids.size()) - 1);
    nlohmann::json tj = timings;
    tj["prompt_s"] = prompt_s;
    tj["decode_s"] = decode_s - prompt_s;
    tj["generated_tokens"] = r.ids.size();
    tj["decode_tokens"] = steps;
    tj["decode_tokens_per_s"] =
        decode_s - prompt_s > 0 ? double(steps) / (decode_s - prompt_s) : 0.0;
    tj["total_s"] = seconds_since(start);  // from the start of the command to this answer
    j["timings"] = tj;
    std::string answer;
    if (tok) {
      const std::string text = tok->decode(r.ids, /*skip_special=*/true);
      answer = extract_answer(text, chat, x.manual);
      j["text"] = text;
      j["answer"] = answer;
    }
    if (a.has("json")) {
      std::printf("%s\n", j.dump().c_str());
    } else if (tok) {
      std::printf("%s\n", answer.c_str());
    } else {
      for (size_t i = 0; i < r.ids.size(); ++i) std::printf("%s%d", i ? "," : "", r.ids[i]);
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace rcc::cli
