// How a question about a compressed context is put to the decoder (spec §4, §6.6), shared by the
// question-answering tasks (facts, babi, instruction):
//   "manual": context compressed; decoder prompt = preamble + question + question_suffix; the loss
//             on answer + eos;
//   "ir" (instruction reconstruction): context + separator + question compressed; decoder prompt =
//             preamble; the loss on question + question_suffix + answer + eos (the model
//             regenerates the question from memory, then answers).
// The answer of a generation is the text after the last answer_marker (answer_of).
#pragma once
#include <string>
#include <vector>

#include "rcc/settings.h"
#include "tasks/codec.h"
#include "tasks/task.h"

namespace rcc {

// context_ids: the context already tokenized (a question in IR mode is appended as text).
TaskExample make_qa_example(std::vector<int32_t> context_ids, const std::string& question,
                            const std::string& answer, const std::string& mode,
                            const ChatTemplate& chat, const TextCodec& codec);

// The generated ids after the last occurrence of the tokenized answer marker (all of them when the
// marker is absent), decoded.
std::string answer_of(const std::vector<int32_t>& generated, const ChatTemplate& chat,
                      const TextCodec& codec);

// Words of the chat template (for word-level vocabularies).
std::vector<std::string> chat_words(const ChatTemplate& chat);
// Words of a text, split as WordVocab::encode splits it.
std::vector<std::string> text_words(const std::string& text);

}  // namespace rcc
