#include "rcc/chat.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace rcc {

std::string ir_context(const std::string& context, const std::string& question,
                       const ChatTemplate& t) {
  return context + t.context_question_separator + question;
}

std::string ir_prompt(const ChatTemplate& t) {
  return t.preamble;
}

std::string manual_prompt(const std::string& question, const ChatTemplate& t) {
  return t.preamble + question + t.question_suffix;
}

std::string extract_answer(const std::string& generated, const ChatTemplate& t, bool manual) {
  std::string a = generated;
  if (!manual) {
    const size_t pos = a.rfind(t.answer_marker);
    if (pos != std::string::npos) a = a.substr(pos + t.answer_marker.size());
  }
  const size_t end = t.answer_end.empty() ? std::string::npos : a.find(t.answer_end);
  if (end != std::string::npos) a = a.substr(0, end);
  return a;
}

namespace {

constexpr const char* kSystem = "You are a helpful assistant.";

ChatTemplate chatml() {
  return ChatTemplate{};  // the defaults (settings.h) are ChatML
}

ChatTemplate llama3() {
  ChatTemplate t;
  t.preamble = std::string("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n") +
               kSystem + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n";
  t.question_suffix = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
  t.answer_marker = "<|start_header_id|>assistant<|end_header_id|>\n\n";
  t.answer_end = "<|eot_id|>";
  return t;
}

ChatTemplate inst(const std::string& bos) {
  ChatTemplate t;
  t.preamble = bos + "[INST] ";
  t.question_suffix = " [/INST]";
  t.answer_marker = "[/INST]";
  t.answer_end = "</s>";
  return t;
}

}  // namespace

ChatTemplate chat_template_from_tokenizer_config(const std::string& text,
                                                 const std::string& source) {
  const nlohmann::json j = parse_json(text, source);
  RCC_CHECK(j.is_object(), source, ": expected a JSON object");
  std::string tmpl;
  if (j.contains("chat_template") && !j["chat_template"].is_null()) {
    const nlohmann::json& c = j["chat_template"];
    if (c.is_string()) {
      tmpl = c.get<std::string>();
    } else if (c.is_array()) {  // named templates: the "default" one
      for (const auto& e : c)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
            e["template"].is_string())
          tmpl = e["template"].get<std::string>();
      RCC_CHECK(!tmpl.empty(), source, ": chat_template lists no \"default\" template");
    } else {
      fail(source, ": chat_template must be a string or a list of named templates");
    }
  }
  // Without a template (base models), the special tokens the file lists tell the format.
  const std::string& probe = tmpl.empty() ? text : tmpl;
  if (probe.find("<|start_header_id|>") != std::string::npos) return llama3();
  if (probe.find("<|im_start|>") != std::string::npos) return chatml();
  if (probe.find("[INST]") != std::string::npos) {
    const bool bos = tmpl.find("bos_token") != std::string::npos;
    return inst(bos ? "<s>" : "");
  }
  RCC_CHECK(tmpl.empty(), source,
            ": chat_template is of no known format (ChatML, Llama 3 and [INST] are known); "
            "spell the prompt strings out in rcc.json's \"chat\"");
  return chatml();
}

}  // namespace rcc
