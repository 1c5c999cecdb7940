#include "tasks/facts.h"

#include <algorithm>

#include "core/error.h"
#include "tasks/qa_format.h"

namespace rcc {

namespace {

const std::vector<std::string> kAnimals = {"cat", "dog",    "bird", "mouse", "horse", "cow",
                                           "fox", "rabbit", "frog", "duck",  "goat",  "sheep",
                                           "pig", "owl",    "bear", "wolf"};
const std::vector<std::string> kPlaces = {"sofa",  "stool", "chair", "bed", "table", "rug",
                                          "shelf", "bench", "box",   "mat", "couch", "desk"};

std::string fact(const std::string& a, const std::string& p) {
  return "The " + a + " sat on the " + p + ".";
}

}  // namespace

std::vector<std::string> facts_words() {
  std::vector<std::string> w = {"The", "sat", "on", "the", "Where", "does", "sit", "sits"};
  w.insert(w.end(), kAnimals.begin(), kAnimals.end());
  w.insert(w.end(), kPlaces.begin(), kPlaces.end());
  return w;
}

TaskExample make_facts(const FactsConfig& c, const ChatTemplate& chat, const TextCodec& codec,
                       Rng& rng, const Haystack* haystack) {
  RCC_CHECK(c.facts >= 1 && c.facts <= int64_t(kAnimals.size()), "facts: 'facts' must lie in [1, ",
            kAnimals.size(), "]");
  RCC_CHECK(c.min_tokens <= c.max_tokens, "facts: min_tokens > max_tokens");
  // Distinct animals (a partial Fisher-Yates shuffle), each with a random place.
  std::vector<std::string> animals = kAnimals;
  std::vector<std::pair<std::string, std::string>> facts;
  for (int64_t i = 0; i < c.facts; ++i) {
    std::swap(animals[size_t(i)],
              animals[size_t(i + rng.range(0, int64_t(animals.size()) - 1 - i))]);
    facts.emplace_back(animals[size_t(i)], kPlaces[rng.below(kPlaces.size())]);
  }
  const size_t asked = rng.below(facts.size());
  std::vector<std::vector<int32_t>> sentences;
  for (const auto& [a, p] : facts) sentences.push_back(codec.encode(fact(a, p) + " "));
  // Distractors: repeated statements of the facts not asked about (the asked fact appears once).
  const int64_t n = rng.range(c.min_tokens, c.max_tokens);
  std::vector<size_t> order;
  int64_t len = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    order.push_back(i);
    len += int64_t(sentences[i].size());
  }
  while (facts.size() > 1) {
    size_t d = rng.below(facts.size() - 1);
    if (d >= asked) ++d;
    if (len + int64_t(sentences[d].size()) > n) break;
    order.push_back(d);
    len += int64_t(sentences[d].size());
  }
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<int32_t> context;
  for (size_t i : order) context.insert(context.end(), sentences[i].begin(), sentences[i].end());
  if (haystack) context = place_in_haystack(context, *haystack, rng);
  const auto& [a, p] = facts[asked];
  return make_qa_example(std::move(context), "Where does the " + a + " sit?",
                         "The " + a + " sits on the " + p + ".", c.mode, chat, codec);
}

}  // namespace rcc
