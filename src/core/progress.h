// Progress reporting on stderr for long work (loading, compressing, training), only when stderr is a
// terminal (DESIGN.md): live updates, then a one-line summary, unless quiet. Never touches stdout, and
// never mixes into the single `error:` line that scripts read.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace rcc {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit, bool quiet = false);
  // `done` units of `total` finished.
  void update(int64_t done);
  // Prints the summary line ("label: N unit in T s (R unit/s)") once.
  void finish(int64_t done);
  double seconds() const;
  static void set_quiet_default(bool quiet);

 private:
  std::string label_, unit_;
  int64_t total_;
  bool quiet_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace rcc
