#include "server/engine.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

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
  std::optional<EncoderPrecision> precision;
  if (!opt.encoder_precision.empty()) precision = parse_precision(opt.encoder_precision);
  model_ =
      std::make_unique<RCCModel>(RCCModel::load(opt.model_dir, backend_for(opt.device), precision));
  const fs::path tj = fs::path(opt.model_dir) / "tokenizer.json";
  RCC_CHECK(fs::exists(tj), opt.model_dir,
            ": no tokenizer.json (the server needs the model's tokenizer)");
  tok_ = Tokenizer::load(tj.string());
  model_name_ = fs::path(opt.model_dir).lexically_normal().filename().string();
  if (model_name_.empty())
    model_name_ = fs::path(opt.model_dir).lexically_normal().parent_path().filename().string();
  worker_ = std::thread([this] { worker(); });
  decoder_ = std::thread([this] { decoder_loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> l(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  {
    std::lock_guard<std::mutex> l(batch_mu_);
    batch_stop_ = true;
  }
  batch_cv_.notify_all();
  if (decoder_.joinable()) decoder_.join();
  if (worker_.joinable()) worker_.join();
}

std::string Engine::fingerprint() const {
  return hex16(model_->encoder_fingerprint);
}

int64_t Engine::queued_jobs() const {
  std::lock_guard<std::mutex> l(jobs_mu_);
  return int64_t(jobs_.size()) + running_;
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
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> l(jobs_mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      // Every queued job up to the limit runs together (their windows share encoder passes).
      while (!jobs_.empty() && int64_t(batch.size()) < kJobsPerBatch) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      }
      running_ = int64_t(batch.size());
    }
    run_jobs(batch);
    std::lock_guard<std::mutex> l(jobs_mu_);
    running_ = 0;
    for (const Job& job : batch) progress_.erase(job.id);
  }
}

void Engine::job_failed(const Job& job, const std::string& why) {
  stats_.jobs_failed++;
  if (job.append)  // the file still holds the memory before the append
    store_.set_status(job.id, "ready", "the append failed: " + why);
  else
    store_.set_status(job.id, "failed", why);
  std::fprintf(stderr, "job %s failed: %s\n", job.id.c_str(), why.c_str());
}

bool Engine::answers_busy() const {
  return stats_.answers_waiting.load() > 0 || stats_.answers_running.load() > 0;
}

std::unique_lock<std::mutex> Engine::job_turn() {
  {
    std::unique_lock<std::mutex> l(answers_mu_);
    answers_cv_.wait(l, [&] { return !answers_busy(); });
  }
  return std::unique_lock<std::mutex>(compute_);
}

void Engine::run_jobs(const std::vector<Job>& batch) {
  // Each job's memory: an append loads the stored one first (a job that cannot is failed alone).
  std::vector<Memory> mems(batch.size());
  std::vector<CompressJob> work;
  std::vector<size_t> of;  // work[k] is batch[of[k]]
  for (size_t i = 0; i < batch.size(); ++i) {
    const Job& job = batch[i];
    try {
      CompressJob c;
      if (job.append) mems[i] = load_ready(job.id);
      c.memory = &mems[i];
      c.ids = job.ids;
      c.mode = job.mode;
      c.memory_dtype = model_->settings.memory_dtype;
      c.append = job.append;
      const int64_t total = int64_t(job.ids.size());
      const std::string id = job.id;
      c.on_window = [this, id, total](int64_t w, int64_t n, const float*, int64_t) {
        std::lock_guard<std::mutex> l(jobs_mu_);
        progress_[id] = {total * (w + 1) / n, total};
        if (stopping_) fail("the server is stopping");
      };
      work.push_back(std::move(c));
      of.push_back(i);
    } catch (const std::exception& e) {
      job_failed(job, e.what());
    }
  }
  if (work.empty()) return;
  std::unique_lock<std::mutex> lock = job_turn();
  Compressor comp(*model_);
  // After each window: the compute lock to any answer waiting or decoding; a stopping server
  // ends the jobs (their rows are repaired at the next start).
  for (CompressJob& c : work) {
    WindowCallback progress = std::move(c.on_window);
    c.on_window = [this, progress, &lock](int64_t w, int64_t n, const float* x, int64_t k) {
      progress(w, n, x, k);
      if (answers_busy()) {
        lock.unlock();
        lock = job_turn();
      }
    };
  }
  try {
    comp.compress_many(work);
  } catch (const std::exception& e) {
    lock.unlock();
    for (size_t k = 0; k < work.size(); ++k) job_failed(batch[of[k]], e.what());
    return;
  }
  lock.unlock();
  for (size_t k = 0; k < work.size(); ++k) {
    const Job& job = batch[of[k]];
    const Memory& mem = mems[of[k]];
    try {
      const std::string path = store_.file_path(job.id);
      save_memory(path, mem);
      forget_cached(job.id);
      store_.set_ready(job.id, mem.token_count, mem.slots(), int64_t(fs::file_size(path)));
      stats_.jobs_done++;
    } catch (const std::exception& e) {
      job_failed(job, e.what());
    }
  }
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
  stats_.cache_bytes = cache_bytes_;
}

std::shared_ptr<DecoderMemory> Engine::memory_prefix(const std::vector<std::string>& ids,
                                                     bool* hit) {
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
  dm->reserve(slots);  // answers continue it in caches of their own
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
    stats_.cache_bytes = cache_bytes_;
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

// One answer's sequences while they run: the decoder thread hands their tokens and results over
// here; the request's thread turns them into text (and writes to its client) on its own time, so
// a slow client never holds the batch back.
struct Engine::Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<KVCache> caches;              // one per choice (continuing the memory prefix)
  std::vector<std::vector<int32_t>> fresh;  // tokens not yet taken, per choice
  std::vector<std::optional<GenerateResult>> results;
  std::vector<char> stop;  // the request's side ended the choice
  std::exception_ptr error;
  size_t left = 0;  // choices still running
};

void Engine::decoder_loop() {
  DecodeBatch batch(model_->decoder, opt_.prefill_chunk);
  std::map<uint64_t, std::pair<std::shared_ptr<Pending>, size_t>>
      owner;  // handle -> (answer, choice)
  auto finish = [&](const std::shared_ptr<Pending>& p, size_t i, GenerateResult* r,
                    std::exception_ptr e) {
    std::lock_guard<std::mutex> l(p->mu);
    if (r) p->results[i] = std::move(*r);
    if (e && !p->error) p->error = e;
    p->left--;
    p->cv.notify_all();
  };
  for (;;) {
    std::vector<Joining> join;
    {
      std::unique_lock<std::mutex> l(batch_mu_);
      batch_cv_.wait(l, [&] { return batch_stop_ || !joining_.empty() || !batch.empty(); });
      if (batch_stop_) break;
      // Admit sequences up to the batch limit; the rest join at a later step.
      while (!joining_.empty() && batch.size() + join.size() < size_t(opt_.max_batch)) {
        join.push_back(std::move(joining_.front()));
        joining_.erase(joining_.begin());
      }
    }
    std::unique_lock<std::mutex> lock(compute_);
    for (Joining& j : join) {
      const size_t i = j.seq.index;
      try {
        owner[batch.add(std::move(j.seq))] = {j.pending, i};
      } catch (...) {
        finish(j.pending, i, nullptr, std::current_exception());
      }
    }
    if (batch.empty()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::pair<uint64_t, GenerateResult>> done;
    try {
      done = batch.step();
    } catch (...) {  // every sequence left the batch: their answers fail
      const std::exception_ptr e = std::current_exception();
      for (auto& [h, o] : owner) finish(o.first, o.second, nullptr, e);
      owner.clear();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_.generate_seconds = stats_.generate_seconds.load() + secs;  // under the compute lock
    lock.unlock();
    stats_.batch_steps++;
    for (auto& [h, r] : done) {
      auto it = owner.find(h);
      if (it == owner.end()) continue;
      finish(it->second.first, it->second.second, &r, nullptr);
      owner.erase(it);
    }
    // What the batch holds: tails per sequence, prefixes once.
    int64_t tails = 0, prefixes = 0;
    std::set<const KVCache*> seen;
    for (auto& [h, o] : owner) {
      const KVCache& c = o.first->caches[o.second];
      tails += int64_t(c.bytes());
      if (c.prefix() && seen.insert(c.prefix()).second) prefixes += int64_t(c.prefix()->bytes());
    }
    stats_.batch_sequences = int64_t(owner.size());
    stats_.batch_tail_bytes = tails;
    stats_.batch_prefix_bytes = prefixes;
  }
  // Stopping: the answers still running end with an error.
  const auto e = std::make_exception_ptr(
      ApiError(503, "server_error", "shutting_down", "the server is stopping"));
  for (auto& [h, o] : owner) finish(o.first, o.second, nullptr, e);
  std::lock_guard<std::mutex> l(batch_mu_);
  for (Joining& j : joining_) finish(j.pending, j.seq.index, nullptr, e);
  joining_.clear();
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

  AnswerResult res;
  const size_t n = size_t(req.n);
  auto p = std::make_shared<Pending>();
  p->fresh.resize(n);
  p->results.resize(n);
  p->stop.assign(n, 0);
  p->left = n;
  struct Busy {  // counted from arrival to the last token: compressions yield meanwhile
    Engine& e;
    ~Busy() {
      e.stats_.answers_running--;
      e.answers_cv_.notify_all();
    }
  } busy{*this};
  stats_.answers_running++;
  {
    // The memory prefix (cached, or prefilled now) and this request's context after it, under
    // the compute lock; the choices then continue it in the decoding batch.
    stats_.answers_waiting++;
    std::unique_lock<std::mutex> lock(compute_);
    stats_.answers_waiting--;
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<DecoderMemory> dm;
    if (!req.memories.empty()) {
      dm = memory_prefix(req.memories, &res.cache_hit);
      (res.cache_hit ? stats_.cache_hits : stats_.cache_misses)++;
    }
    if (!context_ids.empty()) {
      auto own = dm ? std::make_shared<DecoderMemory>(m, std::shared_ptr<const DecoderMemory>(dm))
                    : std::make_shared<DecoderMemory>(m);
      Compressor comp(m);
      const WindowMode mode = m.settings.mode;
      own->reserve(own->length() +
                   Compressor::slot_count(context_ids, m.settings.window, m.settings.ratio, mode));
      comp.stream(context_ids, mode,
                  [&](int64_t, int64_t, const void* slots, int64_t sn) { own->push(slots, sn); });
      own->flush();
      dm = own;
    }
    RCC_CHECK(dm, "an answer needs memories or a context");
    res.memory_slots = dm->length();
    for (size_t i = 0; i < n; ++i) p->caches.push_back(dm->answer_cache(dm));
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_.generate_seconds = stats_.generate_seconds.load() + secs;  // under the compute lock
  }
  answers_cv_.notify_all();

  // The choices join the batch; their tokens come back through `p`.
  std::vector<ChoiceText> texts;
  for (size_t i = 0; i < n; ++i) texts.emplace_back(*tok_, chat, req.raw, !req.ir, req.stop);
  {
    std::lock_guard<std::mutex> l(batch_mu_);
    for (size_t i = 0; i < n; ++i) {
      GenerateParams gp = req.gen;
      gp.on_token = [p](size_t b, int32_t id) {  // on the decoder thread
        std::lock_guard<std::mutex> l(p->mu);
        p->fresh[b].push_back(id);
        p->cv.notify_all();
        return !p->stop[b];
      };
      joining_.push_back({BatchSequence{&p->caches[i], prompt, std::move(gp), i, uint64_t(i)}, p});
    }
  }
  batch_cv_.notify_all();
  std::vector<char> ended(n, 0);
  for (;;) {
    std::vector<std::vector<int32_t>> got(n);
    bool all_done;
    {
      std::unique_lock<std::mutex> l(p->mu);
      p->cv.wait(l, [&] {
        if (p->left == 0) return true;
        for (const auto& f : p->fresh)
          if (!f.empty()) return true;
        return false;
      });
      got.swap(p->fresh);
      p->fresh.resize(n);
      all_done = p->left == 0;
    }
    for (size_t b = 0; b < n; ++b) {
      for (int32_t id : got[b]) {
        if (ended[b]) break;  // a token generated before the decoder saw the choice end
        bool go = texts[b].add(id);
        if (on_text) {
          const std::string piece = texts[b].emit(false);
          if (!piece.empty() && !on_text(int(b), piece)) go = false;
        }
        if (!go) {
          ended[b] = 1;
          std::lock_guard<std::mutex> l(p->mu);
          p->stop[b] = 1;
        }
      }
    }
    if (all_done) break;
  }
  if (p->error) std::rethrow_exception(p->error);

  res.prompt_tokens = int64_t(prompt.size());
  res.context_tokens = int64_t(context_ids.size());
  for (size_t i = 0; i < n; ++i) {
    ChoiceText& t = texts[i];
    if (on_text) {
      const std::string rest = t.emit(true);
      if (!rest.empty()) on_text(int(i), rest);
    }
    const GenerateResult& r = *p->results[i];
    Choice c;
    c.text = t.text();
    c.tokens = int64_t(r.ids.size());
    c.finish_reason = r.stopped || t.stopped_by_string() ? "stop"
                      : r.cancelled || ended[i]          ? "cancelled"
                                                         : "length";
    stats_.generated_tokens += c.tokens;
    res.choices.push_back(std::move(c));
  }
  stats_.answers++;
  stats_.prompt_tokens += res.prompt_tokens + res.context_tokens;
  return res;
}

}  // namespace rcc::server
