#include "tasks/passkey.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tasks/qa_format.h"

namespace rcc {

std::string fill_key(const std::string& tmpl, const std::string& key) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 5, "{key}") == 0) {
      out += key;
      i += 5;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

std::vector<std::string> passkey_words(const PasskeyConfig& c) {
  std::vector<std::string> words;
  std::set<std::string> seen;
  WordVocab base({});
  std::vector<const std::string*> templates = {&c.filler, &c.needle, &c.question, &c.answer};
  if (c.mode != "plain") templates = {&c.filler, &c.needle, &c.chat_question, &c.chat_answer};
  for (const std::string* t : templates) {
    // Split as WordVocab::encode does: words are what is left between spaces, digits, punctuation.
    std::string text = fill_key(*t, "0"), w;
    auto flush = [&] {
      if (!w.empty() && seen.insert(w).second) words.push_back(w);
      w.clear();
    };
    for (char ch : text) {
      const std::string one(1, ch);
      if (ch == ' ' || ch == '\n' || ch == '\t' || base.id(one))
        flush();
      else
        w += ch;
    }
    flush();
  }
  return words;
}

TaskExample make_passkey(const PasskeyConfig& c, const TextCodec& codec, Rng& rng,
                         const std::vector<int32_t>* haystack_ids, const ChatTemplate* chat) {
  RCC_CHECK(c.digits >= 1 && c.digits <= 18, "passkey: digits must lie in [1, 18]");
  RCC_CHECK(c.min_tokens <= c.max_tokens, "passkey: min_tokens > max_tokens");
  RCC_CHECK(0 <= c.min_depth && c.min_depth <= c.max_depth && c.max_depth <= 1,
            "passkey: depths must satisfy 0 <= min_depth <= max_depth <= 1");
  std::string key;
  key += char('1' + rng.below(9));  // no leading zero
  for (int i = 1; i < c.digits; ++i) key += char('0' + rng.below(10));
  const std::vector<int32_t> needle = codec.encode(" " + fill_key(c.needle, key) + " ");
  const int64_t n = rng.range(c.min_tokens, c.max_tokens);
  const int64_t hay_len = std::max<int64_t>(0, n - int64_t(needle.size()));
  std::vector<int32_t> hay;
  if (haystack_ids) {
    RCC_CHECK(int64_t(haystack_ids->size()) > hay_len, "passkey: haystack text of ",
              haystack_ids->size(), " tokens is shorter than the ", hay_len,
              " needed (give more text in the task's `haystack` setting)");
    const int64_t start = int64_t(rng.below(uint64_t(int64_t(haystack_ids->size()) - hay_len)));
    hay.assign(haystack_ids->begin() + start, haystack_ids->begin() + start + hay_len);
  } else {
    const std::vector<int32_t> filler = codec.encode(c.filler + " ");
    RCC_CHECK(!filler.empty(), "passkey: empty filler");
    while (int64_t(hay.size()) < hay_len) hay.insert(hay.end(), filler.begin(), filler.end());
    hay.resize(size_t(hay_len));
  }
  const double depth = c.min_depth + (c.max_depth - c.min_depth) * rng.uniform();
  const int64_t at = std::min<int64_t>(hay_len, int64_t(depth * double(hay_len) + 0.5));
  std::vector<int32_t> context(hay.begin(), hay.begin() + at);
  context.insert(context.end(), needle.begin(), needle.end());
  context.insert(context.end(), hay.begin() + at, hay.end());
  if (c.mode != "plain") {
    RCC_CHECK(chat, "passkey: mode '", c.mode, "' needs the chat template");
    TaskExample e = make_qa_example(std::move(context), c.chat_question,
                                    fill_key(c.chat_answer, key), c.mode, *chat, codec);
    e.answer_text = key;
    return e;
  }
  TaskExample e;
  e.context = std::move(context);
  e.prompt = codec.encode(c.question);
  e.answer = codec.encode(fill_key(c.answer, key));
  e.answer.push_back(codec.eos());
  e.answer_text = key;
  return e;
}

}  // namespace rcc
