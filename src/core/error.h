// Errors: the library throws rcc::Error with a message that names the file, tensor or field and
// what was expected. The CLI turns it into one `error:` line and exit status 1.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace rcc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Usage errors (bad command-line flags): exit status 2.
struct UsageError : Error {
  using Error::Error;
};

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace rcc

// Invariant and input checks; always on (also in release builds).
#define RCC_CHECK(cond, ...)            \
  do {                                  \
    if (!(cond)) ::rcc::fail(__VA_ARGS__); \
  } while (0)
