#include "train/babi.h"

#include <functional>
#include <map>

#include "core/error.h"
#include "train/qa_format.h"

namespace rcc {

namespace {

const std::vector<std::string> kPeople = {"Mary", "John", "Sandra", "Daniel"};
const std::vector<std::string> kRooms = {"kitchen",  "garden",  "hallway",
                                         "bathroom", "bedroom", "office"};
const std::vector<std::string> kMoves = {"went to", "moved to", "journeyed to", "travelled to",
                                         "went back to"};
const std::vector<std::string> kObjects = {"football", "apple", "milk"};

}  // namespace

std::vector<std::string> babi_words() {
  std::vector<std::string> w = {"the", "Where", "is", "picked", "up", "dropped"};
  for (const auto* list : {&kPeople, &kRooms, &kObjects})
    w.insert(w.end(), list->begin(), list->end());
  for (const std::string& m : kMoves)
    for (const std::string& x : text_words(m)) w.push_back(x);
  return w;
}

TaskExample make_babi(const BabiConfig& c, const ChatTemplate& chat, const TextCodec& codec,
                      Rng& rng, const Haystack* haystack) {
  RCC_CHECK(c.min_tokens <= c.max_tokens, "babi: min_tokens > max_tokens");
  const int64_t n = rng.range(c.min_tokens, c.max_tokens);
  std::map<std::string, std::string> where;          // person -> room
  std::map<std::string, std::string> holder, place;  // object -> person, object -> room
  std::vector<int32_t> context;
  for (;;) {
    // Draw an event; the world state changes only if its sentence fits in the story.
    std::string s;
    std::function<void()> apply;
    const std::string& who = kPeople[rng.below(kPeople.size())];
    const uint64_t action = c.two_facts && where.count(who) ? rng.below(4) : 0;
    if (action <= 1) {  // move (also carries what the person holds)
      const std::string& room = kRooms[rng.below(kRooms.size())];
      s = who + " " + kMoves[rng.below(kMoves.size())] + " the " + room + ".";
      apply = [&, room] {
        where[who] = room;
        for (auto& [obj, h] : holder)
          if (h == who) place[obj] = room;
      };
    } else if (action == 2) {  // pick up an object nobody holds
      const std::string& obj = kObjects[rng.below(kObjects.size())];
      if (holder.count(obj)) continue;
      s = who + " picked up the " + obj + ".";
      apply = [&, obj] {
        holder[obj] = who;
        place[obj] = where[who];
      };
    } else {  // drop something held
      std::string obj;
      for (auto& [o, h] : holder)
        if (h == who) obj = o;
      if (obj.empty()) continue;
      s = who + " dropped the " + obj + ".";
      apply = [&, obj] { holder.erase(obj); };
    }
    const std::vector<int32_t> ids = codec.encode(s + " ");
    if (int64_t(context.size() + ids.size()) > n && !where.empty() &&
        (!c.two_facts || !place.empty()))
      break;
    apply();
    context.insert(context.end(), ids.begin(), ids.end());
  }
  std::string question, answer;
  if (c.two_facts) {
    auto it = place.begin();
    std::advance(it, int64_t(rng.below(place.size())));
    question = "Where is the " + it->first + "?";
    answer = it->second;
  } else {
    auto it = where.begin();
    std::advance(it, int64_t(rng.below(where.size())));
    question = "Where is " + it->first + "?";
    answer = it->second;
  }
  if (haystack) context = place_in_haystack(context, *haystack, rng);
  return make_qa_example(std::move(context), question, answer, c.mode, chat, codec);
}

}  // namespace rcc
