// bAbI-like stories (Weston et al. 2015, tasks 1 and 2), generated: people move between rooms
// ("Mary went to the kitchen."); with `two_facts`, they also pick up and drop objects ("John picked
// up the football."). The question asks where a person is (task 1) or where an object is (task 2:
// the room of the person who last held it); the answer is one room. Stories run to a length in
// [min_tokens, max_tokens].
#pragma once
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "train/codec.h"
#include "train/haystack.h"
#include "train/rng.h"
#include "train/task.h"

namespace rcc {

struct BabiConfig {
  int64_t min_tokens = 64, max_tokens = 192;
  bool two_facts = false;
  std::string mode = "manual";  // manual | ir (qa_format.h)
};

std::vector<std::string> babi_words();
// With `haystack`, the story (before any IR question) is placed at a depth of real text.
TaskExample make_babi(const BabiConfig& c, const ChatTemplate& chat, const TextCodec& codec,
                      Rng& rng, const Haystack* haystack = nullptr);

}  // namespace rcc
