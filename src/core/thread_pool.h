// One process-wide pool of worker threads for every CPU op (BLAS itself runs single-threaded; the
// pool partitions matrix products too). `--threads N` sets its size; default: all cores.
#pragma once
#include <cstdint>
#include <functional>

namespace rcc {

// Set the number of threads (>= 1). Not thread-safe against concurrent parallel_for calls.
void set_num_threads(int n);
int num_threads();

// Run fn(begin, end) over [0, n) split into contiguous chunks, one per thread (at most n chunks,
// each at least `min_chunk` items). Blocks until all chunks finish; rethrows the first exception.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk = 1);

}  // namespace rcc
