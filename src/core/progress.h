// Progress reporting on stderr for long work (loading, compressing, training), unless quiet. On a
// terminal: one live line redrawn in place (done/total, rate, ETA), then a one-line summary. When
// stderr is not a terminal (logs, CI) nothing is shown unless forced (`--progress`): then plain
// lines, at most one every few seconds (`set_line_interval`), and the summary. Quiet wins over
// forced. Never touches stdout, and never mixes into the single `error:` line that scripts read.
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
  // Process-wide defaults, read when a Progress is made (the CLI sets them from --quiet and
  // --progress before any work).
  static void set_quiet_default(bool quiet);
  static void set_forced(bool forced);  // report even when stderr is not a terminal
  // Seconds between two plain lines when forced on a non-terminal (default 2).
  static void set_line_interval(double seconds);

 private:
  std::string line(int64_t done) const;  // "label: done/total unit (pct%), rate unit/s, ETA t"
  std::string padded(std::string text);  // for redrawing in place on a terminal

  std::string label_, unit_;
  int64_t total_;
  bool quiet_, tty_, plain_, finished_ = false;
  size_t shown_ = 0;  // length of the line last drawn on the terminal
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace rcc
