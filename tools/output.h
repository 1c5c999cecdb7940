// What the CLI prints on stdout. Every JSON document goes through print_json / json_text, which
// replace invalid UTF-8 (a question, a path or generated text that is not UTF-8) by U+FFFD instead
// of failing. Write errors on stdout are caught once, at the end of main (rcc_main.cpp).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace rcc::cli {

// `j` as JSON, invalid UTF-8 replaced by U+FFFD: one line, or indented by `indent` spaces.
std::string json_text(const nlohmann::json& j, int indent = -1);
// json_text(j, indent) and a newline on stdout.
void print_json(const nlohmann::json& j, int indent = -1);

}  // namespace rcc::cli
