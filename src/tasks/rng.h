// A small, fast, serialisable random generator (xoshiro256**, seeded by splitmix64) for data
// generation: its whole state is four integers, saved in training checkpoints so that a resumed
// run draws exactly the samples the uninterrupted run would have drawn.
#pragma once
#include <array>
#include <cstdint>

namespace rcc {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next();
  // Uniform in [0, n) (n > 0), without modulo bias.
  uint64_t below(uint64_t n);
  // Uniform integer in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo + 1))); }
  double uniform();  // [0, 1)
  bool chance(double p) { return uniform() < p; }

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace rcc
