// bAbI-like stories (Weston et al. 2015, tasks 1 and 2), generated: people move between rooms
// ("Mary went to the kitchen."); with `two_facts`, they also pick up and drop objects ("John picked
// up the football."). The question asks where a person is (task 1) or where an object is (task 2:
// the room of the person who last held it); the answer is one room. Stories run to a length in
// [min_tokens, max_tokens].
// With `data`, examples come from a file of the real bAbI tasks (Weston et al., format of
// facebook's bAbI v1.2: numbered lines, a story restarts at "1 ", question lines carry
// "\t answer \t supporting ids"): every question is one example whose context is its story's
// statements before it.
#pragma once
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/codec.h"
#include "tasks/haystack.h"
#include "tasks/rng.h"
#include "tasks/task.h"

namespace rcc {

struct BabiConfig {
  int64_t min_tokens = 64, max_tokens = 192;
  bool two_facts = false;
  std::string mode = "manual";  // manual | ir (qa_format.h)
  std::string data;             // a bAbI task file; empty: generated stories
};

// One question of a bAbI file with the statements of its story that precede it.
struct BabiQuestion {
  std::vector<std::string> statements;
  std::string question, answer;
};

// Parses a bAbI task file (throws rcc::Error naming the file and line on malformed input).
std::vector<BabiQuestion> read_babi_file(const std::string& path);

std::vector<std::string> babi_words();
// With `haystack`, the story (before any IR question) is placed at a depth of real text.
TaskExample make_babi(const BabiConfig& c, const ChatTemplate& chat, const TextCodec& codec,
                      Rng& rng, const Haystack* haystack = nullptr);
// An example from a question of a bAbI file (statements joined by spaces, as generated stories).
TaskExample make_babi_question(const BabiQuestion& q, const std::string& mode,
                               const ChatTemplate& chat, const TextCodec& codec, Rng& rng,
                               const Haystack* haystack = nullptr);

}  // namespace rcc
