#include "tasks/qa_format.h"

#include <algorithm>

#include "core/error.h"

namespace rcc {

TaskExample make_qa_example(std::vector<int32_t> context_ids, const std::string& question,
                            const std::string& answer, const std::string& mode,
                            const ChatTemplate& chat, const TextCodec& codec) {
  RCC_CHECK(mode == "manual" || mode == "ir", "question mode must be \"manual\" or \"ir\", got '",
            mode, "'");
  TaskExample e;
  e.answer_text = answer;
  const std::vector<int32_t> ans = codec.encode(answer);
  if (mode == "manual") {
    e.context = std::move(context_ids);
    e.prompt = codec.encode(chat.preamble + question + chat.question_suffix);
    e.answer = ans;
  } else {
    e.context = std::move(context_ids);
    const std::vector<int32_t> q = codec.encode(chat.context_question_separator + question);
    e.context.insert(e.context.end(), q.begin(), q.end());
    e.prompt = codec.encode(chat.preamble);
    e.answer = codec.encode(question + chat.question_suffix);
    e.answer.insert(e.answer.end(), ans.begin(), ans.end());
  }
  e.answer.push_back(codec.eos());
  return e;
}

std::string answer_of(const std::vector<int32_t>& generated, const ChatTemplate& chat,
                      const TextCodec& codec) {
  const std::vector<int32_t> marker = codec.encode(chat.answer_marker);
  auto begin = generated.begin();
  if (!marker.empty()) {
    auto it = std::find_end(generated.begin(), generated.end(), marker.begin(), marker.end());
    if (it != generated.end()) begin = it + int64_t(marker.size());
  }
  return codec.decode(std::vector<int32_t>(begin, generated.end()));
}

std::vector<std::string> text_words(const std::string& text) {
  WordVocab base({});
  std::vector<std::string> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty()) words.push_back(w);
    w.clear();
  };
  for (char ch : text) {
    if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || base.id(std::string(1, ch)))
      flush();
    else
      w += ch;
  }
  flush();
  return words;
}

std::vector<std::string> chat_words(const ChatTemplate& chat) {
  std::vector<std::string> w;
  for (const std::string* s : {&chat.preamble, &chat.question_suffix, &chat.answer_marker,
                               &chat.context_question_separator})
    for (const std::string& x : text_words(*s)) w.push_back(x);
  return w;
}

}  // namespace rcc
