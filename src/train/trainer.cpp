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
#include "train/run_dir.h"
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
void write_checkpoint(const RunDir& dir, const TrainableRCC& tm, const Vocabulary& vocab,
                      const TrainConfig& cfg, const TrainState& state) {
  replace_checkpoint(dir, [&](const std::string& tmp_dir) {
    const fs::path tmp(tmp_dir);
    tm.model().save(tmp_dir, DType::F32);
    const std::string vocab_name =
        vocab.copy_from.empty() ? "vocab.json" : fs::path(vocab.copy_from).filename().string();
    if (vocab.copy_from.empty())
      static_cast<const WordVocab&>(*vocab.codec).save((tmp / "vocab.json").string());
    else
      fs::copy_file(vocab.copy_from, tmp / vocab_name, fs::copy_options::overwrite_existing);
    write_string_atomic((tmp / "train.json").string(), cfg.source.dump(2) + "\n");
    save_train_state((tmp / "state.rcct").string(), state, tm.layout());  // last: marks it complete
  });
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

// The directory whose vocabulary the run uses: the checkpoint it resumes, the RCC checkpoint it
// continues (model kind "rcc"), or "" (the vocabulary comes from cfg.vocab or the tasks).
std::string codec_dir(const TrainConfig& cfg, const RunDir& dir) {
  return dir.resuming ? dir.model_dir : cfg.model.kind == "rcc" ? cfg.model.from : std::string();
}

// The data-parallel collective on `be` (null for a single rank), after checking rank < world.
std::unique_ptr<Collective> join_ranks(Backend& be, const TrainOptions& opt) {
  RCC_CHECK(opt.world >= 1 && opt.rank >= 0 && opt.rank < opt.world, "train: rank ", opt.rank,
            " of a world of ", opt.world);
  std::unique_ptr<Collective> comm;
  if (opt.world > 1) comm = nccl_collective(be, opt.nccl_id, opt.rank, opt.world);
  return comm;
}

// Throws unless the model has an embedding row for every id of the codec.
void check_vocabulary(const TrainableRCC& tm, const TextCodec& codec) {
  RCC_CHECK(tm.model().decoder.config().vocab_size >= codec.vocab_size(),
            "the model's vocabulary (", tm.model().decoder.config().vocab_size,
            ") is smaller than the codec's (", codec.vocab_size(), ")");
}

// The training state to start from: when resuming, OUT/model/state.rcct, with its optimizer
// moments and step count put into `adam` and its data-generator state into `rng`; else a fresh
// state (step 0). The lead rank also prepares the log: trimmed to the resumed step, or emptied.
TrainState restore_state(const RunDir& dir, const TrainableRCC& tm, AdamW& adam, Rng& rng,
                         bool lead) {
  TrainState state;
  if (dir.resuming) {
    state = load_train_state((fs::path(dir.model_dir) / "state.rcct").string(), tm.layout());
    adam.set_state(state.adam_t, state.m, state.v);
    rng.set_state(state.rng);
    if (lead) trim_log(dir.log_path, state.step);
  } else if (lead) {
    std::ofstream(dir.log_path, std::ios::trunc);
  }
  return state;
}

// RCC_TRAIN_PROFILE=1: wall time per phase of every step (the backend synchronised at each mark),
// printed at the end. mark(name) charges the time since the last mark or restart to `name`; a
// no-op when profiling is off.
class PhaseTimer {
 public:
  explicit PhaseTimer(Backend& be)
      : be_(be), prof_(runtime_settings().train_profile ? &profile_ : nullptr) {}
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;
  StepProfile* profile() const { return prof_; }  // null when off (StepOptions::profile)
  void restart(std::chrono::steady_clock::time_point t) { clock_ = t; }
  void mark(const char* name) {
    if (!prof_) return;
    be_.synchronize();
    const auto now = std::chrono::steady_clock::now();
    prof_->add(name, std::chrono::duration<double>(now - clock_).count());
    clock_ = now;
  }

 private:
  Backend& be_;
  StepProfile profile_;
  StepProfile* prof_;
  std::chrono::steady_clock::time_point clock_ = std::chrono::steady_clock::now();
};

// The objects of a run, set up by train() before the first step.
struct RunParts {
  const TrainConfig& cfg;
  const TrainOptions& opt;
  const RunDir& dir;
  const Vocabulary& vocab;
  Backend& be;
  Collective* comm;  // null: a single rank
  TrainableRCC& tm;
  AdamW& adam;
  TrainState& state;
  Rng& rng;
  const TaskMixer& mixer;  // the training tasks
  const TaskMixer& evals;  // the evaluation tasks
  Log& log;
  bool lead;  // this rank logs, evaluates and checkpoints
};

// The optimisation steps of a run and what they report: the logging window, this run's totals,
// periodic evaluations and checkpoints, the summary.
class StepLoop {
 public:
  explicit StepLoop(const RunParts& r)
      : r_(r),
        loop_(r.cfg.train),
        end_(r.opt.stop_after >= 0 ? std::min(loop_.steps, r.opt.stop_after) : loop_.steps),
        tty_(isatty(STDERR_FILENO) != 0),
        timer_(r.be),
        stats_(3 + 2 * r.mixer.tasks().size()),
        win_task_(2 * r.mixer.tasks().size(), 0.0) {
    sum_.model_dir = r.dir.model_dir;
  }

  // Steps state.step .. end-1 (end: the config's steps, or --stop-after), each logged, evaluated
  // and checkpointed at its intervals; stops early after the step that reaches --time-limit.
  // Returns the last step done by this run (the resumed step when there was none to do).
  int64_t run() {
    int64_t stopped_at = r_.state.step;
    for (int64_t step = r_.state.step; step < end_; ++step) {
      const auto t0 = std::chrono::steady_clock::now();
      timer_.restart(t0);
      r_.tm.zero_grad();
      const Batch batch = draw_batch(step);
      timer_.mark("data");
      compute_gradients(batch);
      timer_.restart(std::chrono::steady_clock::now());  // the step's phases were timed inside
      reduce_across_ranks();
      const Update u = apply_update(step);
      timer_.mark("optimizer");
      add_to_window(batch,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      const int64_t done = step + 1;
      stopped_at = done;
      const bool out_of_time = ranks_out_of_time();
      if (done % loop_.log_every == 0 || done == end_ || out_of_time) log_window(done, u);
      if (loop_.eval_every > 0 && done % loop_.eval_every == 0 && done < end_) evaluate(done);
      if (out_of_time && done < end_) {
        if (r_.lead && !r_.opt.quiet)
          std::fprintf(stderr, "%sstopping after step %lld: --time-limit %.0f s reached\n",
                       tty_ ? "\n" : "", (long long)done, r_.opt.time_limit);
        break;
      }
      if (loop_.checkpoint_every > 0 && done % loop_.checkpoint_every == 0 && done < end_)
        checkpoint(done);
    }
    return stopped_at;
  }

  // Ends the progress output on stderr: the terminal's updating line, the RCC_TRAIN_PROFILE table.
  void end_output() const {
    if (tty_ && !r_.opt.quiet && r_.lead) std::fprintf(stderr, "\n");
    if (timer_.profile() && r_.lead)
      std::fprintf(stderr, "time per phase (RCC_TRAIN_PROFILE):\n%s",
                   timer_.profile()->table().c_str());
  }

  // The lead rank writes OUT/model at `step` (weights, vocabulary, config, training state).
  void checkpoint(int64_t step) {
    if (!r_.lead) return;
    r_.state.step = step;
    r_.state.adam_t = r_.adam.t();
    r_.state.rng = r_.rng.state();
    r_.state.m = r_.adam.m();
    r_.state.v = r_.adam.v();
    r_.tm.sync_to_host();
    write_checkpoint(r_.dir, r_.tm, r_.vocab, r_.cfg, r_.state);
  }

  // The lead rank evaluates every eval task at `step` (once per step) and logs the accuracies;
  // the results become the summary's "eval".
  void evaluate(int64_t step) {
    if (!r_.lead || r_.evals.tasks().empty() || loop_.eval_samples == 0 || last_eval_ == step)
      return;
    r_.tm.sync_to_host();
    r_.tm.refresh_fingerprint();
    sum_.eval = run_evals(r_.tm, r_.evals, loop_);
    last_eval_ = step;
    std::ostringstream h;
    h << "step " << step << " eval:";
    for (auto it = sum_.eval.begin(); it != sum_.eval.end(); ++it)
      h << " " << it.key() << " accuracy " << it.value()["accuracy"].get<double>();
    r_.log.write({{"step", step}, {"eval", sum_.eval}}, tty_ ? "\r" + h.str() : h.str());
  }

  // The run's summary: steps and training time of the whole training (with resumed runs), rates
  // of this run, the last logged loss and the last evaluation.
  TrainSummary summary() const {
    TrainSummary sum = sum_;
    sum.step = r_.state.step;
    sum.seconds = r_.state.seconds;
    sum.tokens_per_s = run_secs_ > 0 ? double(run_tokens_) / run_secs_ : 0;
    sum.gflops_per_s = run_secs_ > 0 ? run_flops_ / run_secs_ / 1e9 : 0;
    return sum;
  }

 private:
  // One step's global batch: grad_accum micro-batches of batch_size samples, and their total
  // target weight (> 0). Every rank draws the same batch.
  struct Batch {
    std::vector<std::vector<Sample>> micro;
    double total_w = 0;
  };
  struct Update {
    double lr = 0, gnorm = 0;  // the step's learning rate and gradient norm (before clipping)
  };

  Batch draw_batch(int64_t step) {
    Batch batch;
    batch.micro.resize(size_t(loop_.grad_accum));
    for (auto& mb : batch.micro)
      for (int64_t b = 0; b < loop_.batch_size; ++b) {
        mb.push_back(r_.mixer.sample(r_.rng));
        batch.total_w += mb.back().target_weight();
      }
    RCC_CHECK(batch.total_w > 0, "step ", step + 1, ": the batch has no target tokens");
    return batch;
  }

  // Adds the gradients of this rank's share of `batch` (sample i of the step, counted across
  // micro-batches, when i mod world == rank), scaled by 1 / total_w, into tm's gradients, in
  // passes of at most max_pass_tokens context tokens. stats_ = {Σ w·CE, tokens, FLOPs, then Σ w·CE
  // and Σ w of every task} of the share.
  void compute_gradients(const Batch& batch) {
    StepOptions so;
    so.loss_scale = float(1.0 / batch.total_w);
    so.profile = timer_.profile();
    std::fill(stats_.begin(), stats_.end(), 0.0);
    int64_t index = 0;
    for (const auto& mb : batch.micro) {
      std::vector<Sample> share;
      for (const Sample& s : mb)
        if (index++ % r_.opt.world == r_.opt.rank) share.push_back(s);
      for (const std::span<const Sample> pass : split_passes(share, loop_.max_pass_tokens)) {
        const StepStats st = rcc_forward_backward(r_.tm, pass, so);
        stats_[0] += st.loss_sum;
        stats_[1] += double(st.encoder_tokens + st.decoder_rows);
        stats_[2] += st.flops;
        for (size_t b = 0; b < pass.size(); ++b) {
          const size_t k = 3 + 2 * size_t(pass[b].task);
          stats_[k] += st.sample_loss[b];
          stats_[k + 1] += pass[b].target_weight();
        }
      }
    }
  }

  // With several ranks: the gradients and stats_ summed over them.
  void reduce_across_ranks() {
    if (!r_.comm) return;
    r_.comm->all_reduce_sum(r_.tm.gradient_data(), r_.tm.layout().total());
    r_.comm->all_reduce_sum_host(stats_.data(), int(stats_.size()));
    timer_.mark("all-reduce");
  }

  // Checks that the step's loss is finite, then one AdamW step at the scheduled learning rate,
  // with clipping folded into the update, which also refreshes the compute copy (one pass).
  Update apply_update(int64_t step) {
    const double loss_sum = stats_[0];
    RCC_CHECK(std::isfinite(loss_sum), "step ", step + 1, ": the loss is not finite (", loss_sum,
              "); lower the learning rate");
    Update u;
    u.gnorm = grad_norm(r_.be, r_.tm.gradient_data(), r_.tm.layout().total());
    u.lr = loop_.schedule.at(step);
    r_.adam.step(r_.tm.master(), r_.tm.gradient_data(), u.lr,
                 float(clip_coefficient(u.gnorm, loop_.clip)), r_.tm.compute_targets());
    return u;
  }

  // Adds the step (stats_, its weight and `secs` of wall time) to the logging window, this run's
  // totals and the training state's token and time counts.
  void add_to_window(const Batch& batch, double secs) {
    for (size_t k = 3; k < stats_.size(); ++k) win_task_[k - 3] += stats_[k];
    win_tokens_ += int64_t(stats_[1]);
    run_tokens_ += int64_t(stats_[1]);
    r_.state.tokens += int64_t(stats_[1]);
    win_flops_ += stats_[2];
    run_flops_ += stats_[2];
    win_secs_ += secs;
    run_secs_ += secs;
    r_.state.seconds += secs;
    win_loss_ += stats_[0];
    win_w_ += batch.total_w;
  }

  // --time-limit: whether this run's training time has reached it. Every rank must stop after the
  // same step, so rank 0's clock decides.
  bool ranks_out_of_time() {
    bool out_of_time = r_.opt.time_limit > 0 && run_secs_ >= r_.opt.time_limit;
    if (r_.opt.time_limit > 0 && r_.comm) {
      double flag = r_.opt.rank == 0 && out_of_time ? 1.0 : 0.0;
      r_.comm->all_reduce_sum_host(&flag, 1);
      out_of_time = flag > 0;
    }
    return out_of_time;
  }

  // Logs the window that ends at step `done` (JSONL entry and human line; on a terminal one
  // updating line) and starts a new window. The window's mean loss becomes the summary's loss.
  void log_window(int64_t done, const Update& u) {
    sum_.loss = win_loss_ / win_w_;
    const json j = {{"step", done},
                    {"loss", sum_.loss},
                    {"lr", u.lr},
                    {"grad_norm", u.gnorm},
                    {"tokens", r_.state.tokens},
                    {"tokens_per_s", double(win_tokens_) / win_secs_},
                    {"gflops", win_flops_ / win_secs_ / 1e9},
                    {"elapsed_s", r_.state.seconds},
                    {"task_loss", task_losses(r_.mixer, win_task_)}};
    char h[256];
    std::snprintf(h, sizeof h, "%sstep %lld/%lld loss %.4f lr %.2e |g| %.3f %.0f tok/s %.1fs%s",
                  tty_ ? "\r" : "", (long long)done, (long long)loop_.steps, sum_.loss, u.lr,
                  u.gnorm, double(win_tokens_) / win_secs_, r_.state.seconds, tty_ ? "   " : "");
    // One updating line on a terminal; the JSONL keeps every entry.
    if (tty_ && !r_.opt.quiet && r_.lead) {
      r_.log.write(j, "");
      std::fprintf(stderr, "%s", h);
      std::fflush(stderr);
    } else {
      r_.log.write(j, h);
    }
    win_loss_ = win_w_ = win_secs_ = win_flops_ = 0;
    win_tokens_ = 0;
    std::fill(win_task_.begin(), win_task_.end(), 0.0);
  }

  RunParts r_;
  const TrainLoop& loop_;
  const int64_t end_;  // the step after the last one this run may do
  const bool tty_;     // stderr is a terminal
  PhaseTimer timer_;
  std::vector<double> stats_;  // the current step's, as compute_gradients describes
  // The logging window: Σ loss, Σ weight, seconds, FLOPs, tokens, and per task Σ w·CE and Σ w.
  double win_loss_ = 0, win_w_ = 0, win_secs_ = 0, win_flops_ = 0;
  int64_t win_tokens_ = 0;
  std::vector<double> win_task_;
  // This run's totals (a resumed training's earlier runs excluded).
  double run_secs_ = 0, run_flops_ = 0;
  int64_t run_tokens_ = 0;
  int64_t last_eval_ = -1;  // the step of the last evaluation
  TrainSummary sum_;        // model_dir, loss and eval as the run goes
};

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
  const RunDir dir = open_run_dir(opt.out_dir, opt.resume, /*lead=*/opt.rank == 0);
  const Vocabulary vocab = make_vocabulary(cfg, codec_dir(cfg, dir), cfg.model.rcc.chat);
  const TextCodec& codec = *vocab.codec;
  Backend& be = backend_for(opt.device);
  be.round_allocations(true);  // batch-dependent buffer sizes: let the allocator reuse blocks
  const std::unique_ptr<Collective> comm = join_ranks(be, opt);
  const bool lead = opt.rank == 0;  // logs, evaluates and checkpoints
  TrainableRCC tm(dir.resuming ? RCCModel::load(dir.model_dir)
                               : init_training_model(cfg.model, codec.vocab_size()),
                  be);
  check_vocabulary(tm, codec);
  AdamW adam(tm.layout(), loop.adam, be);
  Rng rng(loop.seed);
  TrainState state = restore_state(dir, tm, adam, rng, lead);
  const TaskMixer mixer(cfg.tasks, codec, tm.model().settings),
      evals(cfg.eval, codec, tm.model().settings);
  Log log(dir.log_path, opt.quiet, lead);

  StepLoop steps(
      {cfg, opt, dir, vocab, be, comm.get(), tm, adam, state, rng, mixer, evals, log, lead});
  const int64_t stopped_at = steps.run();
  steps.end_output();
  steps.checkpoint(stopped_at);
  if (stopped_at == loop.steps) steps.evaluate(stopped_at);
  return steps.summary();
}

}  // namespace rcc
