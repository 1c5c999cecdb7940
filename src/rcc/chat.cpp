#include "rcc/chat.h"

namespace rcc {

std::string ir_context(const std::string& context, const std::string& question,
                       const ChatTemplate& t) {
  return context + t.context_question_separator + question;
}

std::string ir_prompt(const ChatTemplate& t) { return t.preamble; }

std::string manual_prompt(const std::string& question, const ChatTemplate& t) {
  return t.preamble + question + t.question_suffix;
}

std::string extract_answer(const std::string& generated, const ChatTemplate& t, bool manual) {
  std::string a = generated;
  if (!manual) {
    const size_t pos = a.rfind(t.answer_marker);
    if (pos != std::string::npos) a = a.substr(pos + t.answer_marker.size());
  }
  const size_t end = a.find("<|im_end|>");
  if (end != std::string::npos) a = a.substr(0, end);
  return a;
}

}  // namespace rcc
