#include "core/json_fields.h"

#include "core/error.h"
#include "core/text_file.h"

namespace rcc {

namespace {
const nlohmann::json kNull;
}

nlohmann::json parse_json(std::string_view text, const std::string& origin) {
  // The callback sees every value's depth as the parser reaches it: too deep stops the parse
  // before a deep value exists (whose destruction or printing would recurse as deep).
  const nlohmann::json::parser_callback_t limit = [&](int depth, nlohmann::json::parse_event_t,
                                                      nlohmann::json&) {
    RCC_CHECK(depth <= kMaxJsonDepth, origin, ": JSON nested deeper than ", kMaxJsonDepth,
              " levels");
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const nlohmann::json::exception& e) {
    fail(origin, ": not valid JSON: ", e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_text_file(path), path);
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

JsonFields::JsonFields(const nlohmann::json& j, std::string where)
    : j_(j), where_(std::move(where)) {
  RCC_CHECK(j_.is_object(), where_, ": expected a JSON object, got ", json_excerpt(j_));
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
  RCC_CHECK(v.is_number_integer(), where_, ": '", k, "' must be an integer, got ", json_excerpt(v));
  const int64_t x = v.get<int64_t>();
  RCC_CHECK(x >= lo && x <= hi, where_, ": '", k, "' = ", x, " is out of range [", lo, ", ", hi,
            "]");
  *out = x;
}

void JsonFields::get_u64(const std::string& k, uint64_t* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), where_,
            ": '", k, "' must be a non-negative integer, got ", json_excerpt(v));
  *out = v.get<uint64_t>();
}

void JsonFields::get_double(const std::string& k, double* out, double lo, double hi) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_number(), where_, ": '", k, "' must be a number, got ", json_excerpt(v));
  const double x = v.get<double>();
  RCC_CHECK(x >= lo && x <= hi, where_, ": '", k, "' = ", x, " is out of range [", lo, ", ", hi,
            "]");
  *out = x;
}

void JsonFields::get_bool(const std::string& k, bool* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_boolean(), where_, ": '", k, "' must be true or false, got ", json_excerpt(v));
  *out = v.get<bool>();
}

void JsonFields::get_string(const std::string& k, std::string* out) const {
  const nlohmann::json& v = get(k);
  if (v.is_null()) return;
  RCC_CHECK(v.is_string(), where_, ": '", k, "' must be a string, got ", json_excerpt(v));
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
