// The server's compute (docs/server.md): the RCC model and its tokenizer, the compression jobs of
// stored memories, and answering from a list of memories plus an optional request context.
//
// One model serves every request, one computation at a time (a compute lock). Answers decode
// together in one continuous batch (model/decode_batch.h) run by a decoder thread: a request's
// sequences join between two steps, feed their prompts in chunks, and leave when done; sequences
// on the same memories continue one shared decoder cache of them, each with its own tail. A
// compression yields the lock between its encoder windows while answers are waiting or decoding,
// so long compressions never hold questions back for more than one window. Jobs queue (bounded)
// and run on one worker thread. Decoder caches of memory lists are kept in an LRU bounded in bytes,
// so a second question on the same memories skips their prefill.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/decode_batch.h"
#include "rcc/decoder_memory.h"
#include "rcc/rcc_model.h"
#include "server/options.h"
#include "server/store.h"
#include "tokenizer/tokenizer.h"

namespace rcc::server {

// An error with the HTTP status and OpenAI error type/code it maps to.
struct ApiError : Error {
  int status;
  std::string type, code;
  ApiError(int status, std::string type, std::string code, const std::string& message)
      : Error(message), status(status), type(std::move(type)), code(std::move(code)) {}
};

struct AnswerRequest {
  std::vector<std::string> memories;   // stored memory ids, read in this order as one memory
  std::optional<std::string> context;  // compressed for this request only, after the memories
  std::string question;                // chat: the question (manual or IR)
  std::vector<int32_t> raw_prompt;     // completions: the decoder prompt as given (no template)
  bool raw = false;                    // use raw_prompt
  bool ir = false;                     // instruction reconstruction (needs `context`)
  GenerateParams gen;                  // max tokens, sampling, stop ids (on_token is set here)
  std::vector<std::string> stop;       // stop strings
  int n = 1;
};

struct Choice {
  std::string text;           // the answer (chat) or the continuation (completions)
  std::string finish_reason;  // stop | length | cancelled
  int64_t tokens = 0;
};

struct AnswerResult {
  std::vector<Choice> choices;
  int64_t prompt_tokens = 0, context_tokens = 0, memory_slots = 0;
  bool cache_hit = false;
};

// Streaming: (choice index, new text); returns false when the client is gone (stops the choice).
using OnText = std::function<bool(int, const std::string&)>;

struct EngineStats {
  std::atomic<int64_t> answers{0}, generated_tokens{0}, prompt_tokens{0}, cache_hits{0},
      cache_misses{0}, jobs_done{0}, jobs_failed{0}, answers_waiting{0}, answers_running{0};
  std::atomic<double> generate_seconds{0};
  // The decoding batch after its last step: sequences, steps taken, bytes of the sequences' own
  // cache tails, and bytes of the distinct memory prefixes they read (each counted once however
  // many sequences share it).
  std::atomic<int64_t> batch_sequences{0}, batch_steps{0}, batch_tail_bytes{0},
      batch_prefix_bytes{0}, cache_bytes{0};
};

class Engine {
 public:
  Engine(const ServeOptions& opt, MemoryStore& store);
  ~Engine();  // stops the worker after the running job (queued jobs stay "compressing": failed at
              // the next start, as after a crash)

  const RCCModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tok_; }
  const std::string& model_name() const { return model_name_; }
  std::string fingerprint() const;  // 16 hex digits of the encoder
  EngineStats& stats() { return stats_; }
  int64_t queued_jobs() const;

  // A new memory from text or ids (exactly one non-empty); returns its record (compressing).
  MemoryRecord create_memory(const std::string& name, const std::optional<std::string>& text,
                             const std::vector<int32_t>& ids, const std::string& mode);
  // Queues an append to a ready aligned memory; returns its record (appending).
  MemoryRecord append_memory(const std::string& id, const std::optional<std::string>& text,
                             const std::vector<int32_t>& ids);
  // Progress of a running job (tokens done, total), if any.
  std::optional<std::pair<int64_t, int64_t>> job_progress(const std::string& id) const;
  bool job_active(const std::string& id) const;
  void forget_cached(const std::string& id);  // drops decoder caches that use memory `id`

  // Checks a request before any work (memories exist, are ready and of this model; prompt ids,
  // lengths); throws ApiError. Returns the decoder prompt.
  std::vector<int32_t> check(const AnswerRequest& req) const;
  // Answers; `on_text` (may be empty) receives the text as it is generated.
  AnswerResult answer(AnswerRequest req, const OnText& on_text);

  // The ids of `text` for the encoder, checked against the context limit.
  std::vector<int32_t> encode_context(const std::string& text) const;

 private:
  struct Job {
    std::string id;
    std::vector<int32_t> ids;
    WindowMode mode;
    bool append;
  };
  struct Pending;   // one answer's sequences while they run (engine.cpp)
  struct Joining {  // a sequence on its way into the batch
    BatchSequence seq;
    std::shared_ptr<Pending> pending;
  };
  // The decoder thread: admits joining sequences between steps and runs the batch's steps.
  void decoder_loop();
  bool answers_busy() const;  // answers waiting for the model or decoding
  struct CacheEntry {
    std::string key;
    std::shared_ptr<DecoderMemory> dm;
    int64_t bytes;
    std::vector<std::string> ids;
  };
  void worker();
  // Compresses the jobs together (Compressor::compress_many), yielding to answers between windows.
  void run_jobs(const std::vector<Job>& batch);
  void job_failed(const Job& job, const std::string& why);
  static constexpr int64_t kJobsPerBatch = 8;  // queued jobs compressed together
  void queue_job(Job job);
  // Waits until no answer is waiting, then takes the compute lock (compressions).
  std::unique_lock<std::mutex> job_turn();
  // The decoder memory of stored memories `ids` read in order: from the LRU, or prefilled now
  // (under the compute lock) and cached.
  std::shared_ptr<DecoderMemory> memory_prefix(const std::vector<std::string>& ids, bool* hit);
  Memory load_ready(const std::string& id);
  // The stored record of `id`: 404 when there is none, 409 when another model made it.
  MemoryRecord record_of_this_model(const std::string& id) const;
  // 400 naming the first id outside the encoder's vocabulary.
  void check_encoder_ids(const std::vector<int32_t>& ids) const;

  ServeOptions opt_;
  MemoryStore& store_;
  std::unique_ptr<RCCModel> model_;
  std::optional<Tokenizer> tok_;
  std::string model_name_;
  EngineStats stats_;

  std::mutex compute_;                  // one computation at a time
  std::condition_variable answers_cv_;  // signalled when no answer waits
  std::mutex answers_mu_;

  mutable std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  int64_t running_ = 0;  // jobs running
  std::map<std::string, std::pair<int64_t, int64_t>> progress_;
  bool stopping_ = false;
  std::thread worker_;

  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::vector<Joining> joining_;
  bool batch_stop_ = false;
  std::thread decoder_;

  std::mutex cache_mu_;
  std::list<CacheEntry> cache_;  // most recently used first
  int64_t cache_bytes_ = 0;
};

}  // namespace rcc::server
