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
// never appears... in manual mode always the whole text), cut at the first "<|im_end|>".
std::string extract_answer(const std::string& generated, const ChatTemplate& t, bool manual);

}  // namespace rcc
