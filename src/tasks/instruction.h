// Instruction following on {"input", "prompt", "answer"} JSONL rows (the PwC format of the RCC
// reference, data/pwc): the input is compressed; the question (prompt) goes to the
// decoder per qa_format.h: "manual", "ir" (instruction reconstruction) or "mixed" (either, at
// random per sample). Inputs longer than max_context_tokens keep their first tokens.
#pragma once
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/codec.h"
#include "tasks/rng.h"
#include "tasks/task.h"

namespace rcc {

struct InstructionRow {
  std::string input, prompt, answer;
};

struct InstructionConfig {
  std::string data;                // JSONL path
  std::string mode = "mixed";      // manual | ir | mixed
  int64_t max_context_tokens = 0;  // 0: no limit
};

// Reads every row; errors name the file and line.
std::vector<InstructionRow> read_instruction_jsonl(const std::string& path);

TaskExample make_instruction(const InstructionConfig& c, const InstructionRow& row,
                             const ChatTemplate& chat, const TextCodec& codec, Rng& rng);

}  // namespace rcc
