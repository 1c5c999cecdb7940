#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace rcc {
namespace {

// Between the parallel sections of one forward pass the gaps are microseconds: a waiting thread
// first polls for this long (a futex sleep and wake-up costs tens of microseconds on a VM), then
// sleeps on the condition variable, so no thread spins once the calls stop.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `ready()` for up to kSpin; true if it became true.
template <class F>
bool spin_until(F&& ready) {
  const auto end = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > end) return false;
  }
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { worker(i); });
  }

  // Runs task(i) for i in [0, tasks) with the calling thread taking part.
  void run(int tasks, const std::function<void(int)>& task) {
    // Nested calls (from inside a task) run serially on the calling thread.
    if (tasks <= 1 || workers_.empty() || in_task_) {
      for (int i = 0; i < tasks; ++i) task(i);
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    task_ = &task;
    tasks_ = tasks;
    next_ = 0;
    pending_.store(tasks, std::memory_order_relaxed);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
    cv_.notify_all();
    lock.unlock();
    drain();
    spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
    lock.lock();
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_relaxed) == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    for (;;) {
      int i;
      {
        std::lock_guard<std::mutex> g(mu_);
        if (!task_ || next_ >= tasks_) return;
        i = next_++;
      }
      try {
        in_task_ = true;
        (*task_)(i);
        in_task_ = false;
      } catch (...) {
        in_task_ = false;
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> g(mu_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_all();
    }
  }

  void worker(int) {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] {
        return generation_.load(std::memory_order_acquire) != seen ||
               stopping_.load(std::memory_order_relaxed);
      });
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      drain();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  static thread_local bool in_task_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  int tasks_ = 0, next_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};  // written under mu_, polled without it
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
};

thread_local bool Pool::in_task_ = false;

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

void set_num_threads(int n) {
  pool().resize(std::max(1, n));
}
int num_threads() {
  return pool().size();
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  int64_t chunks =
      std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  pool().run(int(chunks), [&](int c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  });
}

}  // namespace rcc
