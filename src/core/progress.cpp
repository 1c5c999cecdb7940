#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace rcc {

namespace {
bool g_quiet = false;
bool g_forced = false;
double g_line_interval = 2.0;

// "42 s", "3 min 05 s", "2 h 07 min".
std::string duration_text(double s) {
  char b[48];
  if (s < 60) {
    std::snprintf(b, sizeof b, "%.0f s", s);
  } else if (s < 3600) {
    std::snprintf(b, sizeof b, "%d min %02d s", int(s / 60), int(s) % 60);
  } else {
    std::snprintf(b, sizeof b, "%d h %02d min", int(s / 3600), int(s / 60) % 60);
  }
  return b;
}
}  // namespace

void Progress::set_quiet_default(bool quiet) {
  g_quiet = quiet;
}
void Progress::set_forced(bool forced) {
  g_forced = forced;
}
void Progress::set_line_interval(double seconds) {
  g_line_interval = seconds;
}

Progress::Progress(std::string label, int64_t total, std::string unit, bool quiet)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      quiet_(quiet || g_quiet),
      tty_(isatty(STDERR_FILENO) != 0),
      plain_(!tty_ && g_forced),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(int64_t done) const {
  const double s = seconds(), rate = s > 0 ? double(done) / s : 0.0;
  char b[256];
  std::string out = label_ + ": ";
  if (total_ > 0) {
    std::snprintf(b, sizeof b, "%lld/%lld %s (%.0f%%)", (long long)done, (long long)total_,
                  unit_.c_str(), 100.0 * double(done) / double(total_));
  } else {
    std::snprintf(b, sizeof b, "%lld %s", (long long)done, unit_.c_str());
  }
  out += b;
  std::snprintf(b, sizeof b, ", %.0f %s/s", rate, unit_.c_str());
  out += b;
  if (total_ > 0 && done > 0 && done < total_ && rate > 0)
    out += ", ETA " + duration_text(double(total_ - done) / rate);
  return out;
}

void Progress::update(int64_t done) {
  if (quiet_ || !(tty_ || plain_)) return;
  auto now = std::chrono::steady_clock::now();
  if (plain_) {  // a log: plain lines at intervals; the last one comes from finish()
    if (done >= total_ || now - last_ < std::chrono::duration<double>(g_line_interval)) return;
    last_ = now;
    std::fprintf(stderr, "%s\n", line(done).c_str());
    std::fflush(stderr);
    return;
  }
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  std::fprintf(stderr, "\r%s", padded(line(done)).c_str());
  std::fflush(stderr);
}

void Progress::finish(int64_t done) {
  if (finished_) return;
  finished_ = true;
  if (quiet_ || !(tty_ || plain_)) return;
  const double s = seconds();
  char b[160];
  if (unit_.empty()) {  // a single step: just the time
    std::snprintf(b, sizeof b, " in %.2f s", s);
  } else {
    std::snprintf(b, sizeof b, ": %lld %s in %.2f s (%.0f %s/s)", (long long)done, unit_.c_str(), s,
                  s > 0 ? double(done) / s : 0.0, unit_.c_str());
  }
  const std::string text = label_ + b;
  if (tty_)
    std::fprintf(stderr, "\r%s\n", padded(text).c_str());
  else
    std::fprintf(stderr, "%s\n", text.c_str());
}

std::string Progress::padded(std::string text) {
  // Blanks over what is left of a longer line drawn before (no terminal escapes needed).
  if (text.size() < shown_) text.append(shown_ - text.size(), ' ');
  shown_ = text.size();
  return text;
}

}  // namespace rcc
