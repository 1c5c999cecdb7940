// The thread pool (core/thread_pool.h): parallel_for's chunks, its threads, exceptions, nested
// calls and set_num_threads.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ops_test_util.h"

namespace rcc {
namespace {

using test::ThreadGuard;

// ---------------------------------------------------------------------------------------------
// thread pool

TEST(ThreadPool, EveryIndexExactlyOnce) {
  ThreadGuard g;
  for (int threads : {1, 2, 3, 8})
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1001})
      for (int64_t min_chunk : {1, 4, 100}) {
        set_num_threads(threads);
        ASSERT_EQ(num_threads(), threads);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        parallel_for(
            n,
            [&](int64_t b, int64_t e) {
              {
                std::lock_guard<std::mutex> l(mu);
                chunks.emplace_back(b, e);
              }
              for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
            },
            min_chunk);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
        // Non-empty, disjoint, contiguous chunks; no more than one per thread; none shorter than
        // min_chunk unless the whole range is.
        std::sort(chunks.begin(), chunks.end());
        EXPECT_LE(chunks.size(), size_t(threads));
        int64_t next = 0;
        for (auto [b, e] : chunks) {
          EXPECT_EQ(b, next);
          EXPECT_LT(b, e);
          if (n >= min_chunk) {
            EXPECT_GE(e - b, min_chunk);
          }
          next = e;
        }
        EXPECT_EQ(next, n);
      }
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadGuard g;
  set_num_threads(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  parallel_for(3, [&](int64_t, int64_t) {
    {
      std::lock_guard<std::mutex> l(mu);
      ids.insert(std::this_thread::get_id());
    }
    // Each chunk waits (at most 10 s) for the others, so no thread can run two of them in a row.
    arrived++;
    for (int spin = 0; spin < 10000 && arrived.load() < 3; ++spin)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(ids.size(), 3u);
}

TEST(ThreadPool, ExceptionsPropagateAndPoolSurvives) {
  ThreadGuard g;
  for (int threads : {1, 4}) {
    set_num_threads(threads);
    try {
      parallel_for(100, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          if (i == 57) fail("boom at ", i);
      });
      ADD_FAILURE() << "no exception with " << threads << " threads";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "boom at 57");
    }
    EXPECT_THROW(parallel_for(10, [](int64_t, int64_t) { throw std::out_of_range("x"); }),
                 std::out_of_range);
    // Still works afterwards.
    std::atomic<int64_t> sum{0};
    parallel_for(1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  }
}

TEST(ThreadPool, NestedCallsRunSeriallyOnTheCallingThread) {
  ThreadGuard g;
  set_num_threads(4);
  std::vector<std::atomic<int>> hits(40 * 50);
  std::atomic<int> foreign{0};
  parallel_for(40, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const auto me = std::this_thread::get_id();
      parallel_for(50, [&](int64_t ib, int64_t ie) {
        if (std::this_thread::get_id() != me) foreign++;
        for (int64_t i = ib; i < ie; ++i) hits[size_t(o * 50 + i)]++;
      });
    }
  });
  EXPECT_EQ(foreign.load(), 0);
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, SetNumThreads) {
  ThreadGuard g;
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  const auto me = std::this_thread::get_id();
  int calls = 0;
  parallel_for(1000, [&](int64_t b, int64_t e) {
    EXPECT_EQ(std::this_thread::get_id(), me);
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 1000);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  set_num_threads(0);  // clamped to one
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(5);
  EXPECT_EQ(num_threads(), 5);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  std::atomic<int64_t> n{0};
  parallel_for(10, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 10);
}

// Waiting threads poll briefly between the calls of one pass, then sleep: once the calls stop, the
// process uses (almost) no CPU. Measured as process CPU time over 200 ms of idleness after a burst
// of calls, with 4 threads; spinning threads would use ~600 ms of it, the bound is 20 ms.
TEST(ThreadPool, NoThreadSpinsWhenIdle) {
  const int before = num_threads();
  set_num_threads(4);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 200; ++i) parallel_for(64, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 200 * 64);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the polling window ends
  auto cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  const double c0 = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double used = cpu() - c0;
  EXPECT_LT(used, 0.020) << "threads used " << used * 1e3 << " ms of CPU while idle";
  set_num_threads(before);
}

}  // namespace
}  // namespace rcc
