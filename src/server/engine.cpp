#include "server/engine.h"

#include <cstdio>
#include <filesystem>

#include "backend/backend.h"
#include "rcc/chat.h"
#include "rcc/compressor.h"
#include "rcc/memory_file.h"

namespace rcc::server {

namespace fs = std::filesystem;

namespace {

std::string hex16(uint64_t v) {
  char b[20];
  std::snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
  return b;
}

// The text of one choice as it grows: the decoded ids, cut to the answer (chat) and at the first
// stop string; `emit` hands out what was not handed out before. Text that may still change (an
// incomplete UTF-8 character, a possible start of a stop string, the IR reconstruction before its
// answer marker) is held back until it is settled.
class ChoiceText {
 public:
  ChoiceText(const Tokenizer& tok, const ChatTemplate& chat, bool raw, bool manual,
             const std::vector<std::string>& stop)
      : tok_(tok), chat_(chat), raw_(raw), manual_(manual), stop_(stop) {}

  // Adds a token; returns false once a stop string was reached (the choice ends).
  bool add(int32_t id) {
    ids_.push_back(id);
    text_ = current();
    return !stopped_;
  }
  bool stopped_by_string() const { return stopped_; }
  const std::string& text() const { return text_; }
  size_t tokens() const { return ids_.size(); }
  // The settled text not yet emitted ("" if none); `final`: nothing more will come.
  std::string emit(bool final) {
    std::string settled = text_;
    if (!final) {
      if (!raw_ && !manual_ && decoded_.find(chat_.answer_marker) == std::string::npos)
        return "";      // IR: still the reconstructed question
      size_t keep = 0;  // a trailing part that could begin a stop string
      for (const std::string& s : stop_)
        for (size_t k = std::min(s.size() - 1, settled.size()); k > keep; --k)
          if (settled.compare(settled.size() - k, k, s, 0, k) == 0) {
            keep = k;
            break;
          }
      settled.resize(settled.size() - keep);
      if (settled.size() >= 3 && settled.compare(settled.size() - 3, 3, "\xEF\xBF\xBD") == 0)
        return "";  // an incomplete character (decoded as U+FFFD): wait for its next bytes
    }
    if (settled.size() <= emitted_.size() || settled.compare(0, emitted_.size(), emitted_) != 0)
      return "";
    std::string out = settled.substr(emitted_.size());
    emitted_ = settled;
    return out;
  }

 private:
  std::string current() {
    decoded_ = tok_.decode(ids_, /*skip_special=*/true);
    std::string t = raw_ ? decoded_ : extract_answer(decoded_, chat_, manual_);
    for (const std::string& s : stop_) {
      if (s.empty()) continue;
      const size_t at = t.find(s);
      if (at != std::string::npos) {
        t.resize(at);
        stopped_ = true;
      }
    }
    return t;
  }
  const Tokenizer& tok_;
  const ChatTemplate& chat_;
  bool raw_, manual_;
  std::vector<std::string> stop_;
  std::vector<int32_t> ids_;
  std::string decoded_, text_, emitted_;
  bool stopped_ = false;
};

int64_t cache_bytes(const DecoderMemory& dm) {
  return int64_t(dm.cache().bytes());  // keys and values as stored (f32 on the CPU, bf16 on CUDA)
}

}  // namespace

Engine::Engine(const ServeOptions& opt, MemoryStore& store) : opt_(opt), store_(store) {
  model_ = std::make_unique<RCCModel>(RCCModel::load(opt.model_dir, backend_for(opt.device)));
  const fs::path tj = fs::path(opt.model_dir) / "tokenizer.json";
  RCC_CHECK(fs::exists(tj), opt.model_dir,
            ": no tokenizer.json (the server needs the model's tokenizer)");
  tok_ = Tokenizer::load(tj.string());
  model_name_ = fs::path(opt.model_dir).lexically_normal().filename().string();
  if (model_name_.empty())
    model_name_ = fs::path(opt.model_dir).lexically_normal().parent_path().filename().string();
  worker_ = std::thread([this] { worker(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> l(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::string Engine::fingerprint() const {
  return hex16(model_->encoder_fingerprint);
}

int64_t Engine::queued_jobs() const {
  std::lock_guard<std::mutex> l(jobs_mu_);
  return int64_t(jobs_.size()) + (running_.empty() ? 0 : 1);
}

std::vector<int32_t> Engine::encode_context(const std::string& text) const {
  std::vector<int32_t> ids = tok_->encode(text);
  if (int64_t(ids.size()) > opt_.max_context_tokens)
    throw ApiError(
        400, "invalid_request_error", "context_length_exceeded",
        str_cat("the text has ", ids.size(), " tokens, more than this server's limit of ",
                opt_.max_context_tokens, " (--max-context-tokens)"));
  return ids;
}

void Engine::queue_job(Job job) {
  {
    std::lock_guard<std::mutex> l(jobs_mu_);
    progress_[job.id] = {0, int64_t(job.ids.size())};
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

MemoryRecord Engine::record_of_this_model(const std::string& id) const {
  auto r = store_.get(id);
  if (!r) throw ApiError(404, "invalid_request_error", "memory_not_found", "no memory " + id);
  if (r->encoder_fingerprint != fingerprint())
    throw ApiError(409, "invalid_request_error", "model_mismatch",
                   "memory " + id + " was made by another model (encoder " +
                       r->encoder_fingerprint + "); this server's is " + fingerprint());
  return *r;
}

void Engine::check_encoder_ids(const std::vector<int32_t>& ids) const {
  const int64_t vocab = model_->encoder.config().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      throw ApiError(
          400, "invalid_request_error", "invalid_ids",
          str_cat("ids[", i, "] = ", ids[i], " is outside the vocabulary [0, ", vocab, ")"));
}

MemoryRecord Engine::create_memory(const std::string& name, const std::optional<std::string>& text,
                                   const std::vector<int32_t>& given_ids, const std::string& mode) {
  if (queued_jobs() >= opt_.max_jobs)
    throw ApiError(429, "rate_limit_error", "too_many_jobs",
                   str_cat("the compression queue is full (", opt_.max_jobs,
                           " jobs, --max-jobs); try again later"));
  std::vector<int32_t> ids = text ? encode_context(*text) : given_ids;
  if (ids.empty())
    throw ApiError(400, "invalid_request_error", "empty_input", "the memory's text is empty");
  if (int64_t(ids.size()) > opt_.max_context_tokens)
    throw ApiError(
        400, "invalid_request_error", "context_length_exceeded",
        str_cat("ids: ", ids.size(), " tokens, more than the limit of ", opt_.max_context_tokens));
  check_encoder_ids(ids);
  const WindowMode m = mode.empty() ? model_->settings.mode : parse_mode(mode);
  MemoryRecord r = store_.create(name, mode_name(m), fingerprint(), int64_t(ids.size()));
  queue_job({r.id, std::move(ids), m, false});
  return r;
}

MemoryRecord Engine::append_memory(const std::string& id, const std::optional<std::string>& text,
                                   const std::vector<int32_t>& given_ids) {
  MemoryRecord r = record_of_this_model(id);
  if (r.status != "ready" || job_active(id))
    throw ApiError(409, "invalid_request_error", "memory_busy",
                   "memory " + id + " is " + r.status + "; only a ready memory can be appended to");
  if (r.mode != "aligned")
    throw ApiError(409, "invalid_request_error", "not_appendable",
                   "memory " + id + " is a compat memory; only aligned memories can be extended");
  if (queued_jobs() >= opt_.max_jobs)
    throw ApiError(429, "rate_limit_error", "too_many_jobs", "the compression queue is full");
  std::vector<int32_t> ids = text ? encode_context(*text) : given_ids;
  if (ids.empty()) throw ApiError(400, "invalid_request_error", "empty_input", "nothing to append");
  if (r.tokens + int64_t(ids.size()) > opt_.max_context_tokens)
    throw ApiError(400, "invalid_request_error", "context_length_exceeded",
                   str_cat("the memory would hold ", r.tokens + int64_t(ids.size()),
                           " tokens, more than the limit of ", opt_.max_context_tokens));
  check_encoder_ids(ids);
  store_.set_status(id, "appending");
  queue_job({id, std::move(ids), WindowMode::Aligned, true});
  r.status = "appending";
  return r;
}

std::optional<std::pair<int64_t, int64_t>> Engine::job_progress(const std::string& id) const {
  std::lock_guard<std::mutex> l(jobs_mu_);
  auto it = progress_.find(id);
  if (it == progress_.end()) return std::nullopt;
  return it->second;
}

bool Engine::job_active(const std::string& id) const {
  std::lock_guard<std::mutex> l(jobs_mu_);
  return progress_.count(id) != 0;
}

void Engine::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> l(jobs_mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_ = job.id;
    }
    try {
      run_job(job);
      stats_.jobs_done++;
    } catch (const std::exception& e) {
      stats_.jobs_failed++;
      if (job.append)  // the file still holds the memory before the append
        store_.set_status(job.id, "ready", std::string("the append failed: ") + e.what());
      else
        store_.set_status(job.id, "failed", e.what());
      std::fprintf(stderr, "job %s failed: %s\n", job.id.c_str(), e.what());
    }
    std::lock_guard<std::mutex> l(jobs_mu_);
    running_.clear();
    progress_.erase(job.id);
  }
}

std::unique_lock<std::mutex> Engine::job_turn() {
  {
    std::unique_lock<std::mutex> l(answers_mu_);
    answers_cv_.wait(l, [&] { return stats_.answers_waiting.load() == 0; });
  }
  return std::unique_lock<std::mutex>(compute_);
}

void Engine::run_job(const Job& job) {
  const int64_t total = int64_t(job.ids.size());
  std::unique_lock<std::mutex> lock = job_turn();
  Compressor comp(*model_);
  // After each window: progress, and the compute lock to any waiting answer; a stopping server
  // ends the job (its row is repaired at the next start).
  auto on_window = [&](int64_t i, int64_t n, const float*, int64_t) {
    {
      std::lock_guard<std::mutex> l(jobs_mu_);
      progress_[job.id] = {total * (i + 1) / n, total};
      if (stopping_) fail("the server is stopping");
    }
    if (stats_.answers_waiting.load() > 0) {
      lock.unlock();
      lock = job_turn();
    }
  };
  const std::string path = store_.file_path(job.id);
  Memory mem;
  if (job.append) {
    mem = load_memory_for(path, model_->encoder_fingerprint, model_->settings.window,
                          model_->settings.ratio);
    comp.append(mem, job.ids, on_window);
  } else {
    mem = comp.compress(job.ids, job.mode, on_window);
  }
  save_memory(path, mem);
  lock.unlock();
  forget_cached(job.id);
  store_.set_ready(job.id, mem.token_count, mem.slots(), int64_t(fs::file_size(path)));
}

Memory Engine::load_ready(const std::string& id) {
  return load_memory_for(store_.file_path(id), model_->encoder_fingerprint, model_->settings.window,
                         model_->settings.ratio);
}

void Engine::forget_cached(const std::string& id) {
  std::lock_guard<std::mutex> l(cache_mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (std::find(it->ids.begin(), it->ids.end(), id) != it->ids.end()) {
      cache_bytes_ -= it->bytes;
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
}

std::shared_ptr<DecoderMemory> Engine::memory_prefix(const std::vector<std::string>& ids, bool* hit,
                                                     int64_t extra) {
  std::string key;
  for (const std::string& id : ids) key += id + ",";
  {
    std::lock_guard<std::mutex> l(cache_mu_);
    for (auto it = cache_.begin(); it != cache_.end(); ++it)
      if (it->key == key) {
        cache_.splice(cache_.begin(), cache_, it);
        *hit = true;
        return cache_.front().dm;
      }
  }
  *hit = false;
  std::vector<Memory> mems;
  int64_t slots = 0;
  for (const std::string& id : ids) {
    mems.push_back(load_ready(id));
    slots += mems.back().slots();
  }
  auto dm = std::make_shared<DecoderMemory>(*model_);
  dm->reserve(slots + extra);
  for (const Memory& m : mems) dm->extend(m, 0, m.slots());
  const int64_t bytes = cache_bytes(*dm);
  std::lock_guard<std::mutex> l(cache_mu_);
  if (bytes <= opt_.cache_mib << 20) {
    cache_.push_front({key, dm, bytes, ids});
    cache_bytes_ += bytes;
    while (cache_bytes_ > opt_.cache_mib << 20 && cache_.size() > 1) {
      cache_bytes_ -= cache_.back().bytes;
      cache_.pop_back();
    }
  }
  return dm;
}

std::vector<int32_t> Engine::check(const AnswerRequest& req) const {
  const RCCModel& m = *model_;
  const ChatTemplate& chat = m.settings.chat;
  for (const std::string& id : req.memories) {
    const MemoryRecord r = record_of_this_model(id);
    if (r.status != "ready" && r.status != "appending")
      throw ApiError(409, "invalid_request_error", "memory_not_ready",
                     "memory " + id + " is " + r.status + (r.error.empty() ? "" : ": " + r.error));
  }
  if (req.ir && !req.context)
    throw ApiError(400, "invalid_request_error", "invalid_value",
                   "question_mode \"ir\" compresses the question with `context`; give a context "
                   "or use \"manual\"");
  std::vector<int32_t> prompt =
      req.raw ? req.raw_prompt
              : tok_->encode(req.ir ? ir_prompt(chat) : manual_prompt(req.question, chat));
  if (prompt.empty())
    throw ApiError(400, "invalid_request_error", "empty_prompt", "the prompt is empty");
  const int64_t vocab = m.decoder.config().vocab_size;
  for (int32_t id : prompt)
    if (id < 0 || id >= vocab)
      throw ApiError(
          400, "invalid_request_error", "invalid_ids",
          str_cat("prompt token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
  if (int64_t(prompt.size()) + req.gen.max_new_tokens > m.decoder.config().max_position_embeddings)
    throw ApiError(400, "invalid_request_error", "context_length_exceeded",
                   str_cat("the prompt (", prompt.size(), " tokens) plus max_tokens (",
                           req.gen.max_new_tokens, ") exceed the decoder's ",
                           m.decoder.config().max_position_embeddings, " positions"));
  return prompt;
}

AnswerResult Engine::answer(AnswerRequest req, const OnText& on_text) {
  const RCCModel& m = *model_;
  const ChatTemplate& chat = m.settings.chat;
  // Everything about the request is checked before it waits for the model.
  const std::vector<int32_t> prompt = check(req);
  std::vector<int32_t> context_ids;
  if (req.context) {
    context_ids =
        encode_context(req.ir ? ir_context(*req.context, req.question, chat) : *req.context);
    if (context_ids.empty())
      throw ApiError(400, "invalid_request_error", "empty_input", "the context is empty");
  }

  std::vector<ChoiceText> texts;
  for (int i = 0; i < req.n; ++i) texts.emplace_back(*tok_, chat, req.raw, !req.ir, req.stop);
  GenerateParams gp = req.gen;
  gp.on_token = [&](size_t b, int32_t id) {
    bool go = texts[b].add(id);
    if (on_text) {
      const std::string piece = texts[b].emit(false);
      if (!piece.empty() && !on_text(int(b), piece)) go = false;
    }
    return go;
  };

  AnswerResult res;
  stats_.answers_waiting++;
  std::unique_lock<std::mutex> lock(compute_);
  stats_.answers_waiting--;
  answers_cv_.notify_all();
  stats_.answers_running++;
  struct Running {
    std::atomic<int64_t>& n;
    ~Running() { n--; }
  } running{stats_.answers_running};

  const auto t0 = std::chrono::steady_clock::now();
  const int64_t room = int64_t(prompt.size()) + gp.max_new_tokens + 16;
  std::shared_ptr<DecoderMemory> dm;
  if (req.memories.empty()) {
    dm = std::make_shared<DecoderMemory>(m);
  } else {
    dm = memory_prefix(req.memories, &res.cache_hit, room);
    (res.cache_hit ? stats_.cache_hits : stats_.cache_misses)++;
  }
  const int64_t base = dm->length();
  struct Restore {  // the cached prefix is left as it was, whatever happens
    DecoderMemory& dm;
    int64_t base;
    ~Restore() {
      if (dm.length() > base) dm.truncate(base);
    }
  } restore{*dm, base};
  if (!context_ids.empty()) {
    Compressor comp(m);
    const WindowMode mode = m.settings.mode;
    dm->reserve(base +
                Compressor::slot_count(context_ids, m.settings.window, m.settings.ratio, mode) +
                room);
    comp.stream(context_ids, mode,
                [&](int64_t, int64_t, const void* slots, int64_t sn) { dm->push(slots, sn); });
    dm->flush();
  }
  res.memory_slots = dm->length();
  std::vector<GenerateResult> out;
  if (req.n == 1)
    out.push_back(dm->generate(prompt, gp));
  else
    out = dm->generate_batch(std::vector<std::vector<int32_t>>(size_t(req.n), prompt), gp);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats_.generate_seconds = stats_.generate_seconds.load() + secs;  // under the compute lock
  lock.unlock();

  res.prompt_tokens = int64_t(prompt.size());
  res.context_tokens = int64_t(context_ids.size());
  for (int i = 0; i < req.n; ++i) {
    ChoiceText& t = texts[size_t(i)];
    if (on_text) {
      const std::string rest = t.emit(true);
      if (!rest.empty()) on_text(i, rest);
    }
    Choice c;
    c.text = t.text();
    c.tokens = int64_t(out[size_t(i)].ids.size());
    c.finish_reason = out[size_t(i)].stopped || t.stopped_by_string() ? "stop"
                      : out[size_t(i)].cancelled                      ? "cancelled"
                                                                      : "length";
    stats_.generated_tokens += c.tokens;
    res.choices.push_back(std::move(c));
  }
  stats_.answers++;
  stats_.prompt_tokens += res.prompt_tokens + res.context_tokens;
  return res;
}

}  // namespace rcc::server
