// rcc ask --model DIR (--memory X.rccm [--memory Y.rccm ...] | --context FILE | --context-ids FILE)
//         [--question TEXT | --questions FILE] [--manual | --ir] [--prompt TEXT | --prompt-ids 1,2]
//         [--mode compat|aligned] [--kv-cache FILE] [--max-new-tokens N] [sampling flags] [--json]
// Answers on stdout (one JSON line per question with --json, with the time of each phase under
// "timings"); progress on stderr.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/progress.h"
#include "inputs.h"
#include "model/decode_batch.h"
#include "output.h"
#include "paths.h"
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
    "  --memory X.rccm         a memory file; several --memory are read, in the order given, as\n"
    "                          one memory (each compressed apart; none is re-encoded)\n"
    "  --question TEXT         the question\n"
    "  --questions FILE        one question per line, answered from one memory prefill (manual)\n"
    "  --manual | --ir         choose the mode; --ir with --memory needs an aligned memory (the\n"
    "                          question is appended to it in-process)\n"
    "  --prompt TEXT, --prompt-ids 1,2,3   replace the decoder prompt (the chat preamble)\n"
    "  --mode compat|aligned   window alignment for --context (default: the model's)\n"
    "  --kv-cache FILE         reuse the decoder cache of the memory from FILE; written when\n"
    "                          absent, recomputed and rewritten when it belongs to another\n"
    "                          memory or model (a note on stderr); never an input of the\n"
    "                          command nor a file that is not a decoder cache\n"
    "  --max-new-tokens N      default 128; generation stops at eos\n"
    "  --temperature, --top-k, --top-p, --repetition-penalty, --seed   sampling (default greedy)\n"
    "  --stop-ids 0,5 | --no-stop\n"
    "  --device D              cpu (default), cuda or cuda:N (builds with CUDA)\n"
    "  --kv-8bit               (cuda) keep the memory prefix's keys/values in int8\n"
    "  --encoder-precision bf16|fp8   the encoder's matrix products (fp8: cuda on Hopper)\n"
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

// One decoder prompt to answer.
struct Asked {
  std::vector<int32_t> prompt;
  bool manual = false;   // the question is in the prompt (else compressed with the context)
  std::string question;  // "" for a --prompt / --prompt-ids
};

// Checks the flags against each other (UsageError on a conflict or on nothing to ask). Returns
// whether --prompt or --prompt-ids replaces the decoder prompt.
bool check_request(const Args& a) {
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
  return override_prompt;
}

// The generation settings of the flags; the stop ids come with the model (stop_ids).
GenerateParams generation_params(const Args& a) {
  GenerateParams gp;
  gp.max_new_tokens = a.get_int("max-new-tokens", 128, 0, 1 << 24);
  gp.min_new_tokens = 1;  // as the reference: the first generated token is never tested for eos
  gp.sampling = sampling_from_flags(a);
  return gp;
}

// The model of DIR on the --device backend, with its progress line.
RCCModel load_model(const std::string& dir, const Args& a) {
  Progress load("loaded model " + dir, 1, "");
  RCCModel model = RCCModel::load(dir, device_backend(a), encoder_precision(a));
  load.finish(1);
  return model;
}

// --no-stop: none; --stop-ids: those (each in the decoder's vocabulary: another could never
// stop the answer); else the model's eos ids.
std::vector<int32_t> stop_ids(const Args& a, const RCCModel& model) {
  if (a.has("no-stop")) return {};
  if (!a.has("stop-ids")) return model.decoder.config().eos_token_ids;
  const std::vector<int32_t> ids = parse_id_list(a.require("stop-ids"), "stop-ids");
  check_ids(ids, model.decoder.config().vocab_size, "--stop-ids");
  return ids;
}

// The --kv-cache file: as given (for messages), where it is read and written (a symbolic link
// followed), and the command's inputs it must never overwrite.
struct KvCachePlan {
  std::string given, path;
  std::vector<InputPath> inputs;
};

// The magic bytes that open a decoder cache (docs/formats.md).
constexpr char kDecoderCacheMagic[8] = {'R', 'C', 'C', 'K', 'V', 0, 0, 0};

bool is_decoder_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  return in.read(head, 8) && std::equal(head, head + 8, kDecoderCacheMagic);
}

// --kv-cache, checked before any work: not an input of the command (the memory, the context, a
// file of the model, ...) nor a directory; an existing file must be a decoder cache (anything
// else is never overwritten); a new one must go into an existing, writable directory. A cache
// that turns out stale is checked for writing again before it is recomputed (prefill_memory).
std::optional<KvCachePlan> plan_kv_cache(const Args& a, const std::string& dir) {
  const auto given = a.get("kv-cache");
  if (!given) return std::nullopt;
  RCC_CHECK(!a.has("kv-8bit"),
            "--kv-cache and --kv-8bit exclude each other (saved decoder caches are f32)");
  if (a.all("memory").size() > 1)
    throw UsageError("--kv-cache keeps the decoder cache of one memory; give one --memory");
  KvCachePlan p;
  p.given = *given;
  p.inputs = given_inputs({{"--memory", a.get_or("memory", "")},
                           {"--context", a.get_or("context", "")},
                           {"--context-ids", a.get_or("context-ids", "")},
                           {"--questions", a.get_or("questions", "")},
                           {"--tokenizer", a.get_or("tokenizer", "")},
                           {"--model", dir}});
  std::error_code ec;
  OutputFileRules rules;
  rules.writable = !std::filesystem::exists(*given, ec);  // an existing cache may only be read
  p.path = check_output_file(*given, "--kv-cache", p.inputs, rules);
  RCC_CHECK(!std::filesystem::exists(p.path, ec) || is_decoder_cache(p.path), "--kv-cache ", *given,
            ": exists and is not a decoder cache (.rcckv); refusing to overwrite it");
  return p;
}

// What the phases of one request share: the flags, the model and its tokenizer, and the seconds
// of each phase so far (reported under "timings" with --json).
struct AskSession {
  const Args& a;
  const std::string& dir;  // the model directory
  const RCCModel& model;
  const std::optional<Tokenizer>& tok;
  nlohmann::json& timings;

  // The tokenizer; throws, naming `why`, when the model has none and --tokenizer gave none.
  const Tokenizer& need_tok(const char* why) const {
    RCC_CHECK(tok, dir, ": no tokenizer.json, needed for ", why, " (give --tokenizer FILE)");
    return *tok;
  }
  // On a device, waits for the enqueued work, so that each phase's time is its own.
  void sync() const {
    Backend& be = model.backend();
    if (!be.is_host()) be.synchronize();
  }
};

// The questions: --question, or the non-empty lines of the --questions file (at least one).
std::vector<std::string> read_questions(const Args& a) {
  std::vector<std::string> questions;
  if (auto q = a.get("question")) questions.push_back(*q);
  if (auto f = a.get("questions")) {
    std::istringstream in(read_text(*f));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) questions.push_back(line);
    RCC_CHECK(!questions.empty(), *f, ": no questions");
  }
  return questions;
}

// Whether the question is compressed with the context (instruction reconstruction) rather than
// put in the decoder prompt (manual): one question, no prompt override, not --manual, and --ir
// or --context. Throws when --ir comes with other than one question.
bool choose_ir(const Args& a, const std::vector<std::string>& questions, bool override_prompt) {
  const bool ir = !override_prompt && questions.size() == 1 && !a.has("manual") &&
                  (a.has("ir") || a.has("context"));
  RCC_CHECK(!(a.has("ir") && questions.size() != 1), "--ir needs exactly one --question");
  return ir;
}

// --memory PATH into `mem` (timings.memory_load_s); with `ir`, the question's windows appended
// to it (an aligned memory only), their time added to `compress_s`.
void load_memory_file(const AskSession& s, const std::string& path, const std::string& question,
                      bool ir, Compressor& comp, Memory& mem, double& compress_s) {
  Clock::time_point t = Clock::now();
  mem = load_memory_for(path, s.model.encoder_fingerprint, s.model.settings.window,
                        s.model.settings.ratio);
  s.timings["memory_load_s"] = seconds_since(t);
  if (!ir) return;
  RCC_CHECK(mem.mode == WindowMode::Aligned, path,
            ": --ir needs an aligned memory (compat memories cannot be extended)");
  const std::vector<int32_t> q =
      s.need_tok("--ir").encode(s.model.settings.chat.context_question_separator + question);
  t = Clock::now();
  comp.append(mem, q);  // the question's windows
  s.sync();
  compress_s = seconds_since(t);
}

// The encoder's input ids: the tokenized --context (with `ir`, in the instruction-reconstruction
// form with the question) or the ids of --context-ids (with `ir`, the separator and question
// appended); checked against the encoder's vocabulary, not empty (timings.tokenize_s).
std::vector<int32_t> context_ids(const AskSession& s, const std::string& question, bool ir) {
  const ChatTemplate& chat = s.model.settings.chat;
  const Clock::time_point t_tok = Clock::now();
  std::vector<int32_t> ids;
  if (auto f = s.a.get("context")) {
    std::string text = read_context_text(*f, "--context");
    ids = s.need_tok("--context").encode(ir ? ir_context(text, question, chat) : text);
  } else {
    ids = read_context_ids(s.a.require("context-ids"), "--context-ids");
    if (ir) s.need_tok("--ir").encode_append(chat.context_question_separator + question, ids);
  }
  check_ids(ids, s.model.encoder.config().vocab_size, "context");
  RCC_CHECK(!ids.empty(), "the context is empty");
  s.timings["tokenize_s"] = seconds_since(t_tok);
  return ids;
}

// Compresses `ids` (windows per --mode, default the model's). With `keep` (a --kv-cache, whose
// saved cache is keyed by the memory's identity) into `mem`; else streamed: each window's slots
// pushed straight into dm's prefill (reserved for the slots + `room`), nothing of the memory
// kept. Sets compress_s and (streamed) prefill_s, the time spent pushing slots into the decoder
// and the final flush; compress_s is the rest.
void compress_context(const AskSession& s, const std::vector<int32_t>& ids, bool keep, int64_t room,
                      Compressor& comp, DecoderMemory& dm, Memory& mem, double& compress_s,
                      double& prefill_s) {
  const RCCModel& model = s.model;
  const WindowMode mode = s.a.has("mode") ? parse_mode(s.a.require("mode")) : model.settings.mode;
  const int64_t n = int64_t(ids.size());
  Progress prog("compressing", n, "tokens");
  const Clock::time_point t = Clock::now();
  if (keep) {
    mem = comp.compress(ids, mode, [&](int64_t i, int64_t c, const float*, int64_t) {
      prog.update(n * (i + 1) / c);
    });
    s.sync();
    compress_s = seconds_since(t);
  } else {
    // Streamed: the encoder's windows and the decoder's prefill alternate.
    dm.reserve(Compressor::slot_count(ids, model.settings.window, model.settings.ratio, mode) +
               room);
    comp.stream(ids, mode, [&](int64_t i, int64_t c, const void* slots, int64_t sn) {
      s.sync();
      const Clock::time_point p = Clock::now();
      dm.push(slots, sn);
      s.sync();
      prefill_s += seconds_since(p);
      prog.update(n * (i + 1) / c);
    });
    const Clock::time_point f = Clock::now();
    dm.flush();
    s.sync();
    prefill_s += seconds_since(f);
    compress_s = seconds_since(t) - prefill_s;
  }
  prog.finish(n);
}

// The decoder's cache of a kept memory in `dm`: loaded from the --kv-cache file `kv` when it
// exists and matches this memory and model (timings.kv_cache_load_s), else prefilled from `mem`
// (reserved for its slots + `room`; its time into prefill_s) and saved to `kv` when given
// (timings.kv_cache_save_s). A cache of another memory or model (or a damaged one) is recomputed
// and rewritten, with a note on stderr; its path is checked for writing before the prefill.
void prefill_memory(const AskSession& s, const Memory& mem, const std::optional<KvCachePlan>& kv,
                    int64_t room, DecoderMemory& dm, double& prefill_s) {
  Progress prefill("decoder memory prefill", mem.slots(), "slots");
  const Clock::time_point t = Clock::now();
  if (kv && std::filesystem::exists(kv->path)) {
    try {
      load_decoder_cache(kv->path, dm, memory_identity(mem), decoder_fingerprint(s.model));
      s.sync();
      s.timings["kv_cache_load_s"] = seconds_since(t);
      prefill.finish(mem.slots());
      return;
    } catch (const Error& e) {  // checked before `dm` is touched: it is still empty
      std::fprintf(stderr, "note: %s; recomputing the decoder cache and rewriting %s\n", e.what(),
                   kv->given.c_str());
      check_output_file(kv->given, "--kv-cache", kv->inputs);  // writable, before the prefill
    }
  }
  dm.reserve(mem.slots() + room);
  dm.extend(mem, 0, mem.slots());
  s.sync();
  prefill_s = seconds_since(t);
  if (kv) {
    const Clock::time_point w = Clock::now();
    save_decoder_cache(kv->path, dm, memory_identity(mem), decoder_fingerprint(s.model));
    s.timings["kv_cache_save_s"] = seconds_since(w);
  }
  prefill.finish(mem.slots());
}

// The memory and the decoder's cache of the memory prefix in `dm`, from --memory, --context or
// --context-ids: loaded, computed once (and saved when asked), or streamed window by window
// straight from the encoder into the decoder prefill (--context or --context-ids without
// --kv-cache; then `mem` stays empty). `questions[0]` joins the context when `ir`. Sets
// timings.compress_s and timings.prefill_s (with the phase times named above); returns the
// context's token count.
int64_t build_memory(const AskSession& s, const std::vector<std::string>& questions, bool ir,
                     int64_t max_new_tokens, const std::optional<KvCachePlan>& kv, Compressor& comp,
                     DecoderMemory& dm, Memory& mem) {
  // Cache positions beyond the memory: none (answers continue it in caches of their own).
  const int64_t room = 0;
  (void)max_new_tokens;
  const std::string question = ir ? questions[0] : std::string();
  int64_t context_tokens = 0;
  bool have_memory = false;  // `mem` holds the slots (else they were streamed)
  double compress_s = 0, prefill_s = 0;
  const std::vector<std::string> memories = s.a.all("memory");
  if (memories.size() > 1) {
    // Several memories, read in the order given as one: their slots one after the other in the
    // decoder's memory prefix (spec §3.4). With --ir the question joins the last one.
    std::vector<Memory> mems(memories.size());
    int64_t slots = 0;
    for (size_t i = 0; i < memories.size(); ++i) {
      const bool last = i + 1 == memories.size();
      double cs = 0;
      load_memory_file(s, memories[i], question, ir && last, comp, mems[i], cs);
      compress_s += cs;
      slots += mems[i].slots();
      context_tokens += mems[i].token_count;
    }
    Progress prefill("decoder memory prefill", slots, "slots");
    const Clock::time_point t = Clock::now();
    dm.reserve(slots + room);
    for (const Memory& m : mems) dm.extend(m, 0, m.slots());
    s.sync();
    prefill_s = seconds_since(t);
    prefill.finish(slots);
  } else if (auto path = s.a.get("memory")) {
    load_memory_file(s, *path, question, ir, comp, mem, compress_s);
    have_memory = true;
  } else {
    const std::vector<int32_t> ids = context_ids(s, question, ir);
    compress_context(s, ids, kv.has_value(), room, comp, dm, mem, compress_s, prefill_s);
    have_memory = kv.has_value();
    context_tokens = int64_t(ids.size());
  }
  if (have_memory) {
    context_tokens = mem.token_count;
    prefill_memory(s, mem, kv, room, dm, prefill_s);
  }
  s.timings["compress_s"] = compress_s;
  s.timings["prefill_s"] = prefill_s;
  return context_tokens;
}

// The decoder prompt of each question (the chat template's, manual or instruction
// reconstruction), or the one --prompt / --prompt-ids; each checked against the decoder's
// vocabulary and max_position_embeddings, and not empty.
std::vector<Asked> prepare_prompts(const AskSession& s, const std::vector<std::string>& questions,
                                   bool ir, bool override_prompt) {
  const ChatTemplate& chat = s.model.settings.chat;
  std::vector<Asked> asks;
  if (override_prompt) {
    Asked x;
    x.prompt = s.a.has("prompt-ids") ? parse_id_list(s.a.require("prompt-ids"), "prompt-ids")
                                     : s.need_tok("--prompt").encode(s.a.require("prompt"));
    asks.push_back(x);
  } else {
    for (const auto& q : questions) {
      Asked x;
      x.question = q;
      x.manual = !ir;
      x.prompt = s.need_tok("questions").encode(ir ? ir_prompt(chat) : manual_prompt(q, chat));
      asks.push_back(x);
    }
  }
  for (auto& x : asks) {
    check_ids(x.prompt, s.model.decoder.config().vocab_size, "prompt");
    RCC_CHECK(!x.prompt.empty(), "the decoder prompt is empty");
    check_prompt_length(int64_t(x.prompt.size()), s.model.decoder.config(), "the decoder prompt");
  }
  return asks;
}

// What every answer reports beside its own generation.
struct AnswerContext {
  bool override_prompt = false;
  int64_t memory_slots = 0, context_tokens = 0;
  Clock::time_point start;  // of the command (timings.total_s)
};

// Prints the answer `r` to `x` on stdout: with --json one JSON line (ids, question, mode, counts,
// stopped, timings and, with a tokenizer, text and answer), else the answer (or, without a
// tokenizer, the generated ids).
void print_answer(const AskSession& s, const Asked& x, const GenerateResult& r,
                  const AnswerContext& ctx, int64_t batch) {
  nlohmann::json j;
  j["ids"] = r.ids;
  if (!x.question.empty()) j["question"] = x.question;
  j["mode"] = ctx.override_prompt ? "prompt" : x.manual ? "manual" : "instruction-reconstruction";
  j["memory_slots"] = ctx.memory_slots;
  j["context_tokens"] = ctx.context_tokens;
  j["prompt_tokens"] = x.prompt.size();
  j["stopped"] = r.stopped;
  // The batch (model/decode_batch.h) times each answer's prompt pass (up to its first token) apart
  // from its one-token steps, which it shared with the other questions' rows.
  const int64_t steps = std::max<int64_t>(0, int64_t(r.ids.size()) - 1);
  nlohmann::json tj = s.timings;
  tj["prompt_s"] = r.prompt_seconds;
  tj["decode_s"] = r.decode_seconds;
  tj["generated_tokens"] = r.ids.size();
  tj["decode_tokens"] = steps;
  tj["decode_tokens_per_s"] = r.decode_seconds > 0 ? double(steps) / r.decode_seconds : 0.0;
  tj["batch"] = batch;
  tj["total_s"] = seconds_since(ctx.start);  // from the start of the command to this answer
  j["timings"] = tj;
  std::string answer;
  if (s.tok) {
    const std::string text = s.tok->decode(r.ids, /*skip_special=*/true);
    answer = extract_answer(text, s.model.settings.chat, x.manual);
    j["text"] = text;
    j["answer"] = answer;
  }
  if (s.a.has("json")) {
    print_json(j);
  } else if (s.tok) {
    std::printf("%s\n", answer.c_str());
  } else {
    for (size_t i = 0; i < r.ids.size(); ++i) std::printf("%s%d", i ? "," : "", r.ids[i]);
    std::printf("\n");
  }
  // Each answer is out as soon as it and those before it are done; a lost one stops the command.
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    fail("cannot write to stdout: ", std::strerror(errno));
}

// Answers every question in one batch (model/decode_batch.h): each continues the memory prefix in
// `dm`, shared and read once per step, with its own tail; all decode together. Every question
// samples as it would alone (stream 0). Answers are printed in question order as they finish.
void answer_all(const AskSession& s, const DecoderMemory& dm, const std::vector<Asked>& asks,
                const GenerateParams& gp, const AnswerContext& ctx) {
  const int64_t n = int64_t(asks.size());
  if (gp.max_new_tokens == 0) {  // nothing to generate: empty answers
    for (const Asked& x : asks) print_answer(s, x, GenerateResult{}, ctx, n);
    return;
  }
  Progress gen("generating", gp.max_new_tokens * n, "tokens");
  std::atomic<int64_t> tokens{0};
  GenerateParams p = gp;
  p.on_token = [&](size_t, int32_t) {
    gen.update(++tokens);
    return true;
  };
  std::vector<KVCache> caches;
  for (int64_t i = 0; i < n; ++i) caches.push_back(dm.answer_cache());
  DecodeBatch batch(s.model.decoder);
  std::vector<uint64_t> handles;
  for (int64_t i = 0; i < n; ++i)
    handles.push_back(batch.add({&caches[size_t(i)], asks[size_t(i)].prompt, p, size_t(i), 0}));
  std::vector<std::optional<GenerateResult>> results(static_cast<size_t>(n));
  size_t printed = 0;
  while (!batch.empty()) {
    for (auto& [h, r] : batch.step()) {
      const size_t i = size_t(std::find(handles.begin(), handles.end(), h) - handles.begin());
      results[i] = std::move(r);
    }
    while (printed < results.size() && results[printed]) {
      s.sync();
      print_answer(s, asks[printed], *results[printed], ctx, n);
      caches[printed] = KVCache();  // its tail is no longer needed
      ++printed;
    }
  }
  gen.finish(tokens);
}

}  // namespace

int cmd_ask(int argc, char** argv) {
  Args a(argc, argv, {"model",       "memory",         "context",
                      "context-ids", "question",       "questions",
                      "prompt",      "prompt-ids",     "mode",
                      "kv-cache",    "max-new-tokens", "temperature",
                      "top-k",       "top-p",          "repetition-penalty",
                      "seed",        "stop-ids",       "threads",
                      "tokenizer",   "device",         "encoder-precision"},
         {"manual", "ir", "no-stop", "quiet", "json", "help", "kv-8bit"}, {"memory"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const Clock::time_point start = Clock::now();
  init_runtime(a);
  const std::string dir = model_dir(a);
  const bool override_prompt = check_request(a);
  GenerateParams gp = generation_params(a);
  const std::optional<KvCachePlan> kv = plan_kv_cache(a, dir);  // before any work

  // Seconds of each phase, reported under "timings" with --json. On a device each phase ends with
  // a synchronisation so that its time is its own.
  nlohmann::json timings = nlohmann::json::object();
  const RCCModel model = load_model(dir, a);
  const std::optional<Tokenizer> tok = model_tokenizer(dir, a.get("tokenizer"));
  timings["load_s"] = seconds_since(start);
  const AskSession s{a, dir, model, tok, timings};
  gp.stop_ids = stop_ids(a, model);

  const std::vector<std::string> questions = read_questions(a);
  const bool ir = choose_ir(a, questions, override_prompt);
  // The prompts are checked before the memory is built.
  const std::vector<Asked> asks = prepare_prompts(s, questions, ir, override_prompt);
  // The memory, the compressor and the decoder's cache of the memory prefix: until the last answer.
  Memory mem;
  Compressor comp(model);
  DecoderMemory dm(model, a.has("kv-8bit"));
  AnswerContext ctx;
  ctx.override_prompt = override_prompt;
  ctx.context_tokens = build_memory(s, questions, ir, gp.max_new_tokens, kv, comp, dm, mem);
  ctx.memory_slots = dm.length();
  ctx.start = start;

  answer_all(s, dm, asks, gp, ctx);
  return 0;
}

}  // namespace rcc::cli
