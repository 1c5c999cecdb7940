#include "args.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "core/settings.h"
#include "core/thread_pool.h"
#include "ops/linear.h"

namespace rcc::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& with_value,
           const std::set<std::string>& switches, const std::set<std::string>& repeatable) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (with_value.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
          value = argv[++i];
        }
        if (values_.count(name) && !repeatable.count(name))
          throw UsageError("--" + name + " given twice");
        values_.emplace(name, value);  // the first
        all_values_[name].push_back(value);
      } else if ((switches.count(name) || (name == "progress" && switches.count("quiet"))) &&
                 !inline_value) {
        switches_set_.insert(name);
      } else {
        throw UsageError("unknown option --" + name);
      }
    } else {
      positional_.push_back(a);
    }
  }
}

void Args::no_positionals() const {
  if (!positional_.empty()) throw UsageError("unexpected argument '" + positional_[0] + "'");
}

bool Args::has(const std::string& f) const {
  return values_.count(f) || switches_set_.count(f);
}

std::optional<std::string> Args::get(const std::string& f) const {
  auto it = values_.find(f);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Args::all(const std::string& f) const {
  auto it = all_values_.find(f);
  return it == all_values_.end() ? std::vector<std::string>() : it->second;
}

std::string Args::require(const std::string& f) const {
  auto v = get(f);
  if (!v) throw UsageError("missing required option --" + f);
  return *v;
}

std::string Args::get_or(const std::string& f, const std::string& d) const {
  auto v = get(f);
  return v ? *v : d;
}

int64_t Args::get_int(const std::string& f, int64_t d, int64_t lo, int64_t hi) const {
  auto v = get(f);
  if (!v) return d;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end || errno)
    throw UsageError("--" + f + " expects an integer, got '" + *v + "'");
  if (x < lo || x > hi)
    throw UsageError(str_cat("--", f, " must lie in [", lo, ", ", hi, "], got ", x));
  return x;
}

double Args::get_double(const std::string& f, double d) const {
  auto v = get(f);
  if (!v) return d;
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end || errno)
    throw UsageError("--" + f + " expects a number, got '" + *v + "'");
  return x;
}

std::vector<int32_t> parse_id_list(const std::string& s, const std::string& flag) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string tok = s.substr(i, j - i);
    while (!tok.empty() && tok.front() == ' ') tok.erase(tok.begin());
    while (!tok.empty() && tok.back() == ' ') tok.pop_back();
    if (tok.empty()) throw UsageError("--" + flag + ": empty id in '" + s + "'");
    for (char c : tok)
      if (c < '0' || c > '9') throw UsageError("--" + flag + ": '" + tok + "' is not a token id");
    if (tok.size() > 10 || std::stoll(tok) > INT32_MAX)
      throw UsageError("--" + flag + ": id " + tok + " is too large");
    ids.push_back(int32_t(std::stoll(tok)));
    i = j + 1;
  }
  return ids;
}

std::string model_dir(const Args& a) {
  if (auto m = a.get("model")) return *m;
  namespace fs = std::filesystem;
  std::vector<fs::path> tried;
  if (const std::string& env = runtime_settings().model; !env.empty()) {
    if (fs::is_directory(env)) return env;
    throw UsageError("RCC_MODEL=" + env + " is not a model directory");
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) tried.push_back(exe.parent_path().parent_path() / "models" / "rcc-tiny");
  tried.push_back(fs::path("models") / "rcc-tiny");
  std::string where;
  for (const fs::path& p : tried) {
    if (fs::exists(p / "rcc.json")) return p.string();
    where += (where.empty() ? "" : ", ") + p.string();
  }
  throw UsageError("no --model given and the default model was not found (looked in " + where +
                   ")");
}

Backend& device_backend(const Args& a) {
  return backend_for(a.get_or("device", "cpu"));
}

std::optional<EncoderPrecision> encoder_precision(const Args& a) {
  const auto p = a.get("encoder-precision");
  if (!p) return std::nullopt;
  if (*p != "bf16" && *p != "fp8")
    throw UsageError("--encoder-precision must be bf16 or fp8, got '" + *p + "'");
  return parse_precision(*p);
}

void init_runtime(const Args& a) {
  Progress::set_quiet_default(a.has("quiet"));
  Progress::set_forced(a.has("progress"));
  if (a.has("threads")) set_num_threads(int(a.get_int("threads", 1, 1, 1024)));
}

}  // namespace rcc::cli
