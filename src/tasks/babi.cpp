#include "tasks/babi.h"

#include <functional>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/text_file.h"
#include "tasks/qa_format.h"

namespace rcc {

namespace {

const std::vector<std::string> kPeople = {"Mary", "John", "Sandra", "Daniel"};
const std::vector<std::string> kRooms = {"kitchen",  "garden",  "hallway",
                                         "bathroom", "bedroom", "office"};
const std::vector<std::string> kMoves = {"went to", "moved to", "journeyed to", "travelled to",
                                         "went back to"};
const std::vector<std::string> kObjects = {"football", "apple", "milk"};

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::vector<BabiQuestion> read_babi_file(const std::string& path) {
  std::istringstream in(read_text_file(path));
  std::vector<BabiQuestion> out;
  std::vector<std::string> story;
  std::string line;
  int64_t lineno = 0, last = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    size_t sp = 0;
    while (sp < line.size() && line[sp] >= '0' && line[sp] <= '9') ++sp;
    RCC_CHECK(sp > 0 && sp < line.size() && line[sp] == ' ', path, ":", lineno,
              ": a bAbI line starts with its number and a space");
    // std::stoll would throw std::out_of_range (no file, no line) past 19 digits.
    RCC_CHECK(sp <= 18, path, ":", lineno, ": line number ", line.substr(0, sp), " is too large");
    const int64_t id = std::stoll(line.substr(0, sp));
    RCC_CHECK(id == 1 || id == last + 1, path, ":", lineno, ": line number ", id, " follows ",
              last);
    if (id == 1) story.clear();
    last = id;
    const std::string rest = line.substr(sp + 1);
    const size_t tab = rest.find('\t');
    if (tab == std::string::npos) {
      story.push_back(trim(rest));
      continue;
    }
    const size_t tab2 = rest.find('\t', tab + 1);
    BabiQuestion q;
    q.statements = story;
    q.question = trim(rest.substr(0, tab));
    q.answer =
        trim(rest.substr(tab + 1, tab2 == std::string::npos ? std::string::npos : tab2 - tab - 1));
    RCC_CHECK(!q.question.empty() && !q.answer.empty() && !story.empty(), path, ":", lineno,
              ": a question line needs a story before it, a question and an answer");
    out.push_back(std::move(q));
  }
  RCC_CHECK(!out.empty(), path, ": no bAbI questions found");
  return out;
}

TaskExample make_babi_question(const BabiQuestion& q, const std::string& mode,
                               const ChatTemplate& chat, const TextCodec& codec, Rng& rng,
                               const Haystack* haystack) {
  std::vector<int32_t> context;
  for (const std::string& s : q.statements) {
    const std::vector<int32_t> ids = codec.encode(s + " ");
    context.insert(context.end(), ids.begin(), ids.end());
  }
  if (haystack) context = place_in_haystack(context, *haystack, rng);
  return make_qa_example(std::move(context), q.question, q.answer, mode, chat, codec);
}

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
