// libFuzzer target: arbitrary bytes as the three text inputs of training tasks, each read from a
// scratch file by its own reader: a bAbI task file (tasks/babi.h, read_babi_file), instruction
// JSONL (tasks/instruction.h, read_instruction_jsonl) and a word vocabulary vocab.json
// (tasks/codec.h, WordVocab::load).
// Contract: each reader either returns its rows or throws rcc::Error; any other exception, a
// crash, a sanitizer report or a leak is a finding. What is read is used as training uses it: a
// vocabulary that loads encodes and decodes text (every id inside it); the first questions of a
// bAbI file and rows of a JSONL file become examples (make_babi_question, make_instruction) with
// that vocabulary, or with the bAbI words when the bytes are no vocabulary.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tasks/babi.h"
#include "tasks/codec.h"
#include "tasks/instruction.h"
#include "tasks/rng.h"

namespace {
constexpr const char* kTarget = "task_data_fuzz";
constexpr size_t kExamples = 8;  // examples made per input, at most
rcc::fuzz::FuzzDir* dir = nullptr;
const rcc::WordVocab* babi_vocab = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("task_data");
  babi_vocab = new rcc::WordVocab(rcc::babi_words());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string path = dir->write("data.txt", bytes);
  const ChatTemplate chat;
  Rng rng(size);

  std::optional<WordVocab> vocab;
  fuzz::expect_rcc_errors(kTarget, [&] { vocab = WordVocab::load(path); });
  if (vocab) {
    FUZZ_REQUIRE(kTarget, vocab->vocab_size() >= 3 && vocab->id("<unk>") == 2, "no specials");
    const std::vector<int32_t> ids = vocab->encode(bytes);
    for (int32_t id : ids)
      FUZZ_REQUIRE(kTarget, id >= 0 && id < vocab->vocab_size(), "an id outside the vocabulary");
    (void)vocab->decode(ids);
  }
  const TextCodec& codec = vocab ? static_cast<const TextCodec&>(*vocab) : *babi_vocab;

  std::vector<BabiQuestion> questions;
  if (fuzz::expect_rcc_errors(kTarget, [&] { questions = read_babi_file(path); })) {
    FUZZ_REQUIRE(kTarget, !questions.empty(), "a bAbI file without questions was accepted");
    for (size_t i = 0; i < std::min(questions.size(), kExamples); ++i)
      fuzz::expect_rcc_errors(kTarget, [&] {
        (void)make_babi_question(questions[i], i % 2 ? "ir" : "manual", chat, codec, rng);
      });
  }
  std::vector<InstructionRow> rows;
  if (fuzz::expect_rcc_errors(kTarget, [&] { rows = read_instruction_jsonl(path); })) {
    FUZZ_REQUIRE(kTarget, !rows.empty(), "a JSONL file without rows was accepted");
    InstructionConfig c;
    c.max_context_tokens = int64_t(size % 7);
    for (size_t i = 0; i < std::min(rows.size(), kExamples); ++i)
      fuzz::expect_rcc_errors(kTarget,
                              [&] { (void)make_instruction(c, rows[i], chat, codec, rng); });
  }
  return 0;
}
