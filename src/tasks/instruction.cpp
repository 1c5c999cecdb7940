#include "tasks/instruction.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "tasks/qa_format.h"

namespace rcc {

std::vector<InstructionRow> read_instruction_jsonl(const std::string& path) {
  std::istringstream in(read_text_file(path));
  std::vector<InstructionRow> rows;
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = parse_json(line, path + ":" + std::to_string(no));
    InstructionRow r;
    for (auto [key, dst] : {std::pair<const char*, std::string*>{"input", &r.input},
                            {"prompt", &r.prompt},
                            {"answer", &r.answer}}) {
      RCC_CHECK(j.is_object() && j.contains(key) && j[key].is_string(), path, ":", no,
                ": expected {\"input\", \"prompt\", \"answer\"} strings (missing '", key, "')");
      *dst = j[key].get<std::string>();
    }
    rows.push_back(std::move(r));
  }
  RCC_CHECK(!rows.empty(), path, ": no rows");
  return rows;
}

TaskExample make_instruction(const InstructionConfig& c, const InstructionRow& row,
                             const ChatTemplate& chat, const TextCodec& codec, Rng& rng) {
  std::vector<int32_t> ctx = codec.encode(row.input);
  if (c.max_context_tokens > 0 && int64_t(ctx.size()) > c.max_context_tokens)
    ctx.resize(size_t(c.max_context_tokens));
  const std::string mode = c.mode == "mixed" ? (rng.below(2) ? "ir" : "manual") : c.mode;
  return make_qa_example(std::move(ctx), row.prompt, row.answer, mode, chat, codec);
}

}  // namespace rcc
