// Minimal command-line parsing for the rcc subcommands: `--flag value`, `--flag=value`, `--switch`,
// and positionals. Unknown flags and missing values are usage errors (exit status 2). Every command
// that takes --quiet (it shows progress) also takes --progress; init_runtime applies both.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "rcc/settings.h"

namespace rcc::cli {

class Args {
 public:
  // `with_value`: flags that take a value; `switches`: flags that do not.
  // `repeatable`: flags among `with_value` that may be given several times (all(): every value,
  // in order; get(): the first).
  Args(int argc, char** argv, const std::set<std::string>& with_value,
       const std::set<std::string>& switches, const std::set<std::string>& repeatable = {});

  bool has(const std::string& flag) const;
  std::optional<std::string> get(const std::string& flag) const;
  std::vector<std::string> all(const std::string& flag) const;
  std::string require(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& dflt) const;
  int64_t get_int(const std::string& flag, int64_t dflt, int64_t lo, int64_t hi) const;
  double get_double(const std::string& flag, double dflt) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // For commands without positional arguments: a stray word (`--prompt-ids 1 2`) is a usage error.
  void no_positionals() const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::set<std::string> switches_set_;
  std::vector<std::string> positional_;
};

// "1,2,3" -> ids; rejects anything that is not a non-negative 32-bit integer.
std::vector<int32_t> parse_id_list(const std::string& s, const std::string& flag);

// Applies what every subcommand shares: the BLAS set-up, --threads (default: all cores), and
// progress on stderr: --quiet (none) and --progress (plain lines even when stderr is not a
// terminal; core/progress.h).
void init_runtime(const Args& a);

// --model, or the bundled default RCC model when it is absent: $RCC_MODEL if set, else
// models/rcc-tiny beside the executable's directory (build/rcc -> models/rcc-tiny), else
// models/rcc-tiny under the current directory. Throws a usage error naming where it looked.
std::string model_dir(const Args& a);

// The backend named by --device (cpu, cuda, cuda:N; default cpu).
Backend& device_backend(const Args& a);

// --encoder-precision bf16|fp8 when given (a usage error for anything else); absent: the model's.
std::optional<EncoderPrecision> encoder_precision(const Args& a);
inline constexpr const char* kEncoderPrecisionHelp =
    "  --encoder-precision P   bf16 or fp8: the encoder's matrix products in FP8 (cuda on\n"
    "                          Hopper; default: the model's rcc.json, else bf16)\n";
inline constexpr const char* kDeviceHelp =
    "  --device D              cpu (default), cuda or cuda:N (builds with CUDA)\n";

}  // namespace rcc::cli
