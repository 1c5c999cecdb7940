#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <span>
#include <sstream>

#include "backend/collective.h"
#include "core/json_fields.h"
#include "core/settings.h"
#include "core/thread_pool.h"
#include "io/atomic_file.h"
#include "tasks/evaluate.h"
#include "train/model_init.h"
#include "train/optimizer.h"
#include "train/rcc_step.h"
#include "train/train_state.h"
#include "train/trainable_rcc.h"

namespace rcc {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The text codec of the run and how to store it beside the model.
struct Vocabulary {
  std::unique_ptr<TextCodec> codec;
  std::string copy_from;  // a tokenizer.json / vocab.json to copy, or "" for a built WordVocab
};

Vocabulary make_vocabulary(const TrainConfig& cfg, const std::string& model_dir,
                           const ChatTemplate& chat) {
  Vocabulary v;
  if (!model_dir.empty()) {  // resuming or continuing an RCC checkpoint: its own vocabulary
    v.codec = load_codec(model_dir);
    RCC_CHECK(v.codec, model_dir, ": no vocab.json or tokenizer.json beside the model");
    const fs::path words = fs::path(model_dir) / "vocab.json";
    v.copy_from =
        fs::exists(words) ? words.string() : (fs::path(model_dir) / "tokenizer.json").string();
    return v;
  }
  if (cfg.vocab.kind == "tokenizer") {
    v.codec = std::make_unique<BpeCodec>(Tokenizer::load(cfg.vocab.path));
    v.copy_from = cfg.vocab.path;
    return v;
  }
  std::vector<std::string> words;
  for (const auto* list : {&cfg.tasks, &cfg.eval})
    for (const TaskSpec& t : *list)
      for (const std::string& w : task_words(t, chat)) words.push_back(w);
  v.codec = std::make_unique<WordVocab>(words);
  return v;
}

// Writes OUT/model from the host copy of the weights (sync_to_host() first).
void write_checkpoint(const std::string& out, const TrainableRCC& tm, const Vocabulary& vocab,
                      const TrainConfig& cfg, const TrainState& state) {
  const fs::path final_dir = fs::path(out) / "model", tmp = fs::path(out) / "model.tmp",
                 old = fs::path(out) / "model.old";
  fs::remove_all(tmp);
  tm.model().save(tmp.string(), DType::F32);
  const std::string vocab_name =
      vocab.copy_from.empty() ? "vocab.json" : fs::path(vocab.copy_from).filename().string();
  if (vocab.copy_from.empty())
    static_cast<const WordVocab&>(*vocab.codec).save((tmp / "vocab.json").string());
  else
    fs::copy_file(vocab.copy_from, tmp / vocab_name, fs::copy_options::overwrite_existing);
  write_string_atomic((tmp / "train.json").string(), cfg.source.dump(2) + "\n");
  save_train_state((tmp / "state.rcct").string(), state, tm.layout());
  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fs::remove_all(old);
}

// Keeps the log lines of steps <= `step` (a resumed run rewrites what followed its checkpoint).
void trim_log(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (parse_json(line, path).value("step", int64_t(0)) > step) continue;
    } catch (const std::exception&) {
      continue;  // a half-written last line
    }
    kept += line + "\n";
  }
  write_string_atomic(path, kept);
}

// The JSONL log and its human lines; a disabled log (data-parallel ranks other than 0) writes
// nothing.
class Log {
 public:
  Log(const std::string& path, bool quiet, bool enabled = true) : quiet_(quiet || !enabled) {
    if (!enabled) return;
    out_.open(path, std::ios::app);
    RCC_CHECK(out_.good(), path, ": cannot open for writing");
  }
  void write(const json& j, const std::string& human) {
    if (!out_.is_open()) return;
    out_ << j.dump() << "\n";
    out_.flush();
    if (!quiet_ && !human.empty()) std::fprintf(stderr, "%s\n", human.c_str());
  }

 private:
  std::ofstream out_;
  bool quiet_;
};

json run_evals(const TrainableRCC& tm, const TaskMixer& evals, const TrainLoop& loop) {
  json all = json::object();
  for (size_t i = 0; i < evals.tasks().size(); ++i) {
    const EvalResult r = evaluate_task(tm.model(), evals, i, loop.eval_samples, loop.eval_seed + i);
    std::string key = r.task;
    if (all.contains(key)) key += "#" + std::to_string(i);
    all[key] = r.to_json();
  }
  return all;
}

// Consecutive groups of `samples` with at most `max_tokens` context tokens each (a longer sample
// alone), as spans into `samples`; all of them in one group when max_tokens is 0.
std::vector<std::span<const Sample>> split_passes(const std::vector<Sample>& samples,
                                                  int64_t max_tokens) {
  std::vector<std::span<const Sample>> passes;
  size_t first = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const int64_t n = int64_t(samples[i].context.size());
    if (max_tokens > 0 && tokens > 0 && tokens + n > max_tokens) {
      passes.emplace_back(samples.data() + first, i - first);
      first = i;
      tokens = 0;
    }
    tokens += n;
  }
  if (first < samples.size()) passes.emplace_back(samples.data() + first, samples.size() - first);
  return passes;
}

// {"INDEX:KIND": cross-entropy per target token} of the tasks drawn in a logging window;
// `sums` holds Σ w·CE and Σ w of each task.
json task_losses(const TaskMixer& mixer, const std::vector<double>& sums) {
  json j = json::object();
  for (size_t i = 0; i < mixer.tasks().size(); ++i)
    if (sums[2 * i + 1] > 0)
      j[std::to_string(i) + ":" + mixer.tasks()[i].kind] = sums[2 * i] / sums[2 * i + 1];
  return j;
}

}  // namespace

json TrainSummary::to_json() const {
  return {{"step", step},
          {"loss", loss},
          {"seconds", seconds},
          {"tokens_per_s", tokens_per_s},
          {"gflops_per_s", gflops_per_s},
          {"eval", eval},
          {"model", model_dir}};
}

TrainSummary train(const TrainConfig& cfg, const TrainOptions& opt) {
  RCC_CHECK(!opt.out_dir.empty(), "train: no output directory");
  const TrainLoop& loop = cfg.train;
  if (loop.threads > 0) set_num_threads(loop.threads);
  const std::string model_dir = (fs::path(opt.out_dir) / "model").string();
  const std::string log_path = (fs::path(opt.out_dir) / "log.jsonl").string();
  // --resume continues OUT/model; with nothing there yet it starts the run (so one command line
  // serves both). A model directory without training state is never overwritten.
  const bool resuming = opt.resume && fs::exists(model_dir);
  RCC_CHECK(opt.resume || !fs::exists(model_dir), model_dir,
            " already exists: pass --resume to continue it, or choose another --out");
  RCC_CHECK(!resuming || fs::exists(fs::path(model_dir) / "state.rcct"), model_dir,
            ": no state.rcct (not a training checkpoint), cannot resume");
  fs::create_directories(opt.out_dir);

  const std::string codec_dir = resuming                  ? model_dir
                                : cfg.model.kind == "rcc" ? cfg.model.from
                                                          : std::string();
  const Vocabulary vocab = make_vocabulary(cfg, codec_dir, cfg.model.rcc.chat);
  const TextCodec& codec = *vocab.codec;
  Backend& be = backend_for(opt.device);
  be.round_allocations(true);  // batch-dependent buffer sizes: let the allocator reuse blocks
  RCC_CHECK(opt.world >= 1 && opt.rank >= 0 && opt.rank < opt.world, "train: rank ", opt.rank,
            " of a world of ", opt.world);
  std::unique_ptr<Collective> comm;
  if (opt.world > 1) comm = nccl_collective(be, opt.nccl_id, opt.rank, opt.world);
  const bool lead = opt.rank == 0;  // logs, evaluates and checkpoints
  TrainableRCC tm(
      resuming ? RCCModel::load(model_dir) : init_training_model(cfg.model, codec.vocab_size()),
      be);
  RCC_CHECK(tm.model().decoder.config().vocab_size >= codec.vocab_size(),
            "the model's vocabulary (", tm.model().decoder.config().vocab_size,
            ") is smaller than the codec's (", codec.vocab_size(), ")");
  AdamW adam(tm.layout(), loop.adam, be);
  TrainState state;
  Rng rng(loop.seed);
  if (resuming) {
    state = load_train_state((fs::path(model_dir) / "state.rcct").string(), tm.layout());
    adam.set_state(state.adam_t, state.m, state.v);
    rng.set_state(state.rng);
    if (lead) trim_log(log_path, state.step);
  } else if (lead) {
    std::ofstream(log_path, std::ios::trunc);
  }
  const TaskMixer mixer(cfg.tasks, codec, tm.model().settings),
      evals(cfg.eval, codec, tm.model().settings);
  Log log(log_path, opt.quiet, lead);
  const int64_t end = opt.stop_after >= 0 ? std::min(loop.steps, opt.stop_after) : loop.steps;
  const bool tty = isatty(STDERR_FILENO) != 0;

  TrainSummary sum;
  sum.model_dir = model_dir;
  double win_loss = 0, win_w = 0, win_secs = 0, win_flops = 0, run_secs = 0, run_flops = 0;
  int64_t win_tokens = 0, run_tokens = 0, last_eval = -1;
  auto checkpoint = [&](int64_t step) {
    if (!lead) return;
    state.step = step;
    state.adam_t = adam.t();
    state.rng = rng.state();
    state.m = adam.m();
    state.v = adam.v();
    tm.sync_to_host();
    write_checkpoint(opt.out_dir, tm, vocab, cfg, state);
  };
  auto evaluate = [&](int64_t step) {
    if (!lead || evals.tasks().empty() || loop.eval_samples == 0 || last_eval == step) return;
    tm.sync_to_host();
    tm.refresh_fingerprint();
    sum.eval = run_evals(tm, evals, loop);
    last_eval = step;
    std::ostringstream h;
    h << "step " << step << " eval:";
    for (auto it = sum.eval.begin(); it != sum.eval.end(); ++it)
      h << " " << it.key() << " accuracy " << it.value()["accuracy"].get<double>();
    log.write({{"step", step}, {"eval", sum.eval}}, tty ? "\r" + h.str() : h.str());
  };

  // RCC_TRAIN_PROFILE=1: wall time per phase of every step, printed at the end (synchronises).
  StepProfile profile;
  StepProfile* prof = runtime_settings().train_profile ? &profile : nullptr;
  auto clock = std::chrono::steady_clock::now();
  auto phase = [&](const char* name) {
    if (!prof) return;
    be.synchronize();
    const auto now = std::chrono::steady_clock::now();
    prof->add(name, std::chrono::duration<double>(now - clock).count());
    clock = now;
  };
  // Per task: Σ w·CE and Σ w over the logging window (task_loss in the log).
  const size_t n_tasks = mixer.tasks().size();
  std::vector<double> stats(3 + 2 * n_tasks), win_task(2 * n_tasks, 0.0);
  int64_t stopped_at = state.step;  // the last step done by this run (or the resumed step)
  for (int64_t step = state.step; step < end; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    clock = t0;
    tm.zero_grad();
    std::vector<std::vector<Sample>> micro(size_t(loop.grad_accum));
    double total_w = 0;
    for (auto& mb : micro)
      for (int64_t b = 0; b < loop.batch_size; ++b) {
        mb.push_back(mixer.sample(rng));
        total_w += mb.back().target_weight();
      }
    RCC_CHECK(total_w > 0, "step ", step + 1, ": the batch has no target tokens");
    phase("data");
    StepOptions so;
    so.loss_scale = float(1.0 / total_w);
    so.profile = prof;
    // This rank's share: sample i of the step (counted across micro-batches) when i mod world ==
    // rank. stats = {loss, tokens, flops, then Σ w·CE and Σ w of every task}, summed over the
    // ranks below.
    std::fill(stats.begin(), stats.end(), 0.0);
    int64_t index = 0;
    for (const auto& mb : micro) {
      std::vector<Sample> share;
      for (const Sample& s : mb)
        if (index++ % opt.world == opt.rank) share.push_back(s);
      for (const std::span<const Sample> pass : split_passes(share, loop.max_pass_tokens)) {
        const StepStats st = rcc_forward_backward(tm, pass, so);
        stats[0] += st.loss_sum;
        stats[1] += double(st.encoder_tokens + st.decoder_rows);
        stats[2] += st.flops;
        for (size_t b = 0; b < pass.size(); ++b) {
          const size_t k = 3 + 2 * size_t(pass[b].task);
          stats[k] += st.sample_loss[b];
          stats[k + 1] += pass[b].target_weight();
        }
      }
    }
    clock = std::chrono::steady_clock::now();  // the step's phases were timed inside
    if (comm) {
      comm->all_reduce_sum(tm.gradient_data(), tm.layout().total());
      comm->all_reduce_sum_host(stats.data(), int(stats.size()));
      phase("all-reduce");
    }
    for (size_t k = 3; k < stats.size(); ++k) win_task[k - 3] += stats[k];
    const double loss_sum = stats[0];
    win_tokens += int64_t(stats[1]);
    run_tokens += int64_t(stats[1]);
    state.tokens += int64_t(stats[1]);
    win_flops += stats[2];
    run_flops += stats[2];
    RCC_CHECK(std::isfinite(loss_sum), "step ", step + 1, ": the loss is not finite (", loss_sum,
              "); lower the learning rate");
    // Clipping folded into the update, which also refreshes the compute copy (one pass).
    const double gnorm = grad_norm(be, tm.gradient_data(), tm.layout().total());
    const double lr = loop.schedule.at(step);
    adam.step(tm.master(), tm.gradient_data(), lr, float(clip_coefficient(gnorm, loop.clip)),
              tm.compute_targets());
    phase("optimizer");
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    win_secs += secs;
    run_secs += secs;
    state.seconds += secs;
    win_loss += loss_sum;
    win_w += total_w;
    const int64_t done = step + 1;
    stopped_at = done;
    // --time-limit: every rank must stop after the same step (rank 0's clock decides).
    bool out_of_time = opt.time_limit > 0 && run_secs >= opt.time_limit;
    if (opt.time_limit > 0 && comm) {
      double flag = opt.rank == 0 && out_of_time ? 1.0 : 0.0;
      comm->all_reduce_sum_host(&flag, 1);
      out_of_time = flag > 0;
    }
    if (done % loop.log_every == 0 || done == end || out_of_time) {
      sum.loss = win_loss / win_w;
      const json j = {{"step", done},
                      {"loss", sum.loss},
                      {"lr", lr},
                      {"grad_norm", gnorm},
                      {"tokens", state.tokens},
                      {"tokens_per_s", double(win_tokens) / win_secs},
                      {"gflops", win_flops / win_secs / 1e9},
                      {"elapsed_s", state.seconds},
                      {"task_loss", task_losses(mixer, win_task)}};
      char h[256];
      std::snprintf(h, sizeof h, "%sstep %lld/%lld loss %.4f lr %.2e |g| %.3f %.0f tok/s %.1fs%s",
                    tty ? "\r" : "", (long long)done, (long long)loop.steps, sum.loss, lr, gnorm,
                    double(win_tokens) / win_secs, state.seconds, tty ? "   " : "");
      if (tty && !opt.quiet &&
          lead) {  // one updating line on a terminal; the JSONL keeps every entry
        log.write(j, "");
        std::fprintf(stderr, "%s", h);
        std::fflush(stderr);
      } else {
        log.write(j, h);
      }
      win_loss = win_w = win_secs = win_flops = 0;
      win_tokens = 0;
      std::fill(win_task.begin(), win_task.end(), 0.0);
    }
    if (loop.eval_every > 0 && done % loop.eval_every == 0 && done < end) evaluate(done);
    if (out_of_time && done < end) {
      if (lead && !opt.quiet)
        std::fprintf(stderr, "%sstopping after step %lld: --time-limit %.0f s reached\n",
                     tty ? "\n" : "", (long long)done, opt.time_limit);
      break;
    }
    if (loop.checkpoint_every > 0 && done % loop.checkpoint_every == 0 && done < end)
      checkpoint(done);
  }
  if (tty && !opt.quiet && lead) std::fprintf(stderr, "\n");
  if (prof && lead)
    std::fprintf(stderr, "time per phase (RCC_TRAIN_PROFILE):\n%s", prof->table().c_str());
  checkpoint(stopped_at);
  if (stopped_at == loop.steps) evaluate(stopped_at);
  sum.step = state.step;
  sum.seconds = state.seconds;
  sum.tokens_per_s = run_secs > 0 ? double(run_tokens) / run_secs : 0;
  sum.gflops_per_s = run_secs > 0 ? run_flops / run_secs / 1e9 : 0;
  return sum;
}

}  // namespace rcc
