#include "output.h"

#include <cstdio>

namespace rcc::cli {

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_json(const nlohmann::json& j, int indent) {
  const std::string s = json_text(j, indent) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
}

}  // namespace rcc::cli
