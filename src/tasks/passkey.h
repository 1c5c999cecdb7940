// Passkey retrieval (the RCC paper's §4.2, after Mohtashami & Jaggi): a random key of `digits`
// digits is stated in a needle sentence hidden at a chosen depth of a long haystack of filler text;
// the decoder is asked for it. The haystack is the filler repeated (or, with `haystack` set, real
// text: see Haystack in data.h) and cut to a length drawn from [min_tokens, max_tokens].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/codec.h"
#include "tasks/rng.h"
#include "tasks/task.h"

namespace rcc {

struct PasskeyConfig {
  int64_t min_tokens = 256, max_tokens = 512;  // context length (tokens, needle included)
  int digits = 5;
  double min_depth = 0.0, max_depth = 1.0;  // where the needle starts, as a fraction of the context
  std::string filler =
      "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
  std::string needle = "The pass key is {key}. Remember it. {key} is the pass key.";
  std::string question = "What is the pass key? The pass key is";
  std::string answer = " {key}.";  // after the question; the codec's eos is appended
  // "plain": the decoder prompt is `question` and the target `answer` (above); "manual" / "ir":
  // the chat format of `rcc ask` (qa_format.h) with `chat_question` and `chat_answer`, so that a
  // model trained so answers `rcc ask --question "What is the pass key?"`.
  std::string mode = "plain";
  std::string chat_question = "What is the pass key?";
  std::string chat_answer = "The pass key is {key}.";
};

// Words of the default templates (for a word-level vocabulary).
std::vector<std::string> passkey_words(const PasskeyConfig& c);

// One example; `haystack_ids` (optional) replaces the filler with pre-tokenized haystack text, from
// which a random span is taken. `chat` is needed for the manual and ir modes.
TaskExample make_passkey(const PasskeyConfig& c, const TextCodec& codec, Rng& rng,
                         const std::vector<int32_t>* haystack_ids = nullptr,
                         const ChatTemplate* chat = nullptr);

// Replaces every "{key}" in `tmpl` by `key`.
std::string fill_key(const std::string& tmpl, const std::string& key);

}  // namespace rcc
