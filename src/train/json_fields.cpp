#include "train/json_fields.h"

#include "core/error.h"

namespace rcc {

namespace {
const nlohmann::json kNull;
}

JsonFields::JsonFields(const nlohmann::json& j, std::string where)
    : j_(j), where_(std::move(where)) {
  RCC_CHECK(j_.is_object(), where_, ": expected a JSON object, got ", j_.dump());
}

bool JsonFields::has(const std::string& k) const {
  return j_.contains(k);
}

const nlohmann::json& JsonFields::get(const std::string& k) const {
  used_.insert(k);
  return j_.contains(k) ? j_[k] : kNull;
}

void JsonFields::get_int(const std::string& k, int64_t* out, int64_t lo, int64_t hi) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_number_integer(), where_, ": '", k, "' must be an integer, got ", v.dump());
  const int64_t x = v.get<int64_t>();
  RCC_CHECK(x >= lo && x <= hi, where_, ": '", k, "' = ", x, " is out of range [", lo, ", ", hi,
            "]");
  *out = x;
}

void JsonFields::get_u64(const std::string& k, uint64_t* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), where_,
            ": '", k, "' must be a non-negative integer, got ", v.dump());
  *out = v.get<uint64_t>();
}

void JsonFields::get_double(const std::string& k, double* out, double lo, double hi) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_number(), where_, ": '", k, "' must be a number, got ", v.dump());
  const double x = v.get<double>();
  RCC_CHECK(x >= lo && x <= hi, where_, ": '", k, "' = ", x, " is out of range [", lo, ", ", hi,
            "]");
  *out = x;
}

void JsonFields::get_bool(const std::string& k, bool* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_boolean(), where_, ": '", k, "' must be true or false, got ", v.dump());
  *out = v.get<bool>();
}

void JsonFields::get_string(const std::string& k, std::string* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_string(), where_, ": '", k, "' must be a string, got ", v.dump());
  *out = v.get<std::string>();
}

void JsonFields::require_string(const std::string& k, std::string* out) const {
  RCC_CHECK(j_.contains(k), where_, ": missing field '", k, "'");
  get_string(k, out);
}

void JsonFields::check_all_used() const {
  for (auto it = j_.begin(); it != j_.end(); ++it)
    RCC_CHECK(used_.count(it.key()), where_, ": unknown field '", it.key(), "'");
}

}  // namespace rcc
