// Reading typed fields of a JSON object with errors that name the file and field, and a check that
// every field given was understood (a typo in a config must not fall back to a default silently).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace rcc {

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
