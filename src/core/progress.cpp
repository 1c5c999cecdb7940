#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace rcc {

namespace {
bool g_quiet = false;
}

void Progress::set_quiet_default(bool quiet) { g_quiet = quiet; }

Progress::Progress(std::string label, int64_t total, std::string unit, bool quiet)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), quiet_(quiet || g_quiet),
      tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done) {
  if (quiet_ || !tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double s = seconds();
  std::fprintf(stderr, "\r%s: %lld/%lld %s (%.0f %s/s)   ", label_.c_str(), (long long)done,
               (long long)total_, unit_.c_str(), s > 0 ? double(done) / s : 0.0, unit_.c_str());
  std::fflush(stderr);
}

void Progress::finish(int64_t done) {
  if (finished_) return;
  finished_ = true;
  if (quiet_ || !tty_) return;
  const double s = seconds();
  if (unit_.empty()) {  // a single step: just the time
    std::fprintf(stderr, "%s%s in %.2f s\n", tty_ ? "\r" : "", label_.c_str(), s);
    return;
  }
  std::fprintf(stderr, "%s%s: %lld %s in %.2f s (%.0f %s/s)\n", tty_ ? "\r" : "", label_.c_str(),
               (long long)done, unit_.c_str(), s, s > 0 ? double(done) / s : 0.0, unit_.c_str());
}

}  // namespace rcc
