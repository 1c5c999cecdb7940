// Facts QA in the manner of the RCC reference's example ("The cat sat on the sofa." + "The dog sat
// on the stool." × 1000 + "Where does the cat sit?" → "The cat sits on the sofa."): `facts` animals
// each sit on a piece of furniture (distinct entities; places may repeat); the context states every
// fact once at a random position among `distractor` sentences (repetitions of the other facts, as
// the reference's repeated dog) up to a length in [min_tokens, max_tokens]; the question asks where
// one of the animals sits.
#pragma once
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/codec.h"
#include "tasks/haystack.h"
#include "tasks/rng.h"
#include "tasks/task.h"

namespace rcc {

struct FactsConfig {
  int64_t facts = 4;                           // distinct animals in the context
  int64_t min_tokens = 128, max_tokens = 256;  // context length (before an IR question)
  std::string mode = "manual";                 // manual | ir (qa_format.h)
};

std::vector<std::string> facts_words();
// With `haystack`, the facts (before any IR question) are placed at a depth of real text.
TaskExample make_facts(const FactsConfig& c, const ChatTemplate& chat, const TextCodec& codec,
                       Rng& rng, const Haystack* haystack = nullptr);

}  // namespace rcc
