// The one way rcc reads JSON: parse_json / read_json_file (text or a file, plain or gzip, with
// errors that name the origin, and a nesting limit so that hostile input cannot exhaust the stack),
// and JsonFields, typed fields of a JSON object with errors that name the file and field, and a
// check that every field given was understood (a typo in a config must not fall back to a default
// silently).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

namespace rcc {

// Deepest nesting of arrays/objects accepted (configs need a handful of levels).
constexpr int kMaxJsonDepth = 128;

// `text` parsed as one JSON value; an rcc::Error naming `origin` when it is not valid JSON or nests
// deeper than kMaxJsonDepth.
nlohmann::json parse_json(std::string_view text, const std::string& origin);
// The JSON file at `path` (core/text_file.h: gzip read transparently).
nlohmann::json read_json_file(const std::string& path);
// A value for an error message: its JSON text cut to about `max_chars` characters.
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 80);

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string where);
  const std::string& where() const { return where_; }
  bool has(const std::string& k) const;
  // Each getter leaves *out unchanged when the key is absent; throws on a wrong type or range.
  void get_int(const std::string& k, int64_t* out, int64_t lo, int64_t hi) const;
  void get_u64(const std::string& k, uint64_t* out) const;
  void get_double(const std::string& k, double* out, double lo, double hi) const;
  void get_bool(const std::string& k, bool* out) const;
  void get_string(const std::string& k, std::string* out) const;
  void require_string(const std::string& k, std::string* out) const;
  // The raw value (marks it used); null when absent.
  const nlohmann::json& get(const std::string& k) const;
  // Throws naming the first key that no getter asked for.
  void check_all_used() const;

 private:
  const nlohmann::json& j_;
  std::string where_;
  mutable std::set<std::string> used_;
};

}  // namespace rcc
