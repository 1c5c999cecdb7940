// Prompts and answers of RCC question answering (spec §4).
//  - instruction reconstruction (IR): the question is compressed with the context
//    (context + separator + question); the decoder prompt is the preamble alone; the model first
//    regenerates the question, then "<|im_end|>\n<|im_start|>assistant\n", then the answer.
//  - manual: the question goes, uncompressed, into the decoder prompt:
//    preamble + question + "<|im_end|>\n<|im_start|>assistant\n"; everything generated is the
//    answer.
#pragma once
#include <string>

#include "rcc/settings.h"

namespace rcc {

std::string ir_context(const std::string& context, const std::string& question,
                       const ChatTemplate& t);
std::string ir_prompt(const ChatTemplate& t);
std::string manual_prompt(const std::string& question, const ChatTemplate& t);

// The answer in generated text: after the last answer marker (IR; the whole text when the marker
// never appears... in manual mode always the whole text), cut at the first t.answer_end.
std::string extract_answer(const std::string& generated, const ChatTemplate& t, bool manual);

// The prompt strings of a base model's chat format, recognised from its tokenizer_config.json
// (text): the Jinja `chat_template` when there is one, else the special tokens it lists. Known
// formats: ChatML (<|im_start|>: Qwen), Llama 3 (<|start_header_id|>), [INST] (Mistral, Llama 2).
// A template of none of these throws, naming `source`; rcc.json's "chat" can then spell the
// strings out. A file with neither a template nor a known special token gives ChatML written as
// text (the default).
ChatTemplate chat_template_from_tokenizer_config(const std::string& json_text,
                                                 const std::string& source);

}  // namespace rcc
