// RCC settings of a checkpoint: window W, ratio R, default alignment mode, memory dtype and chat
// template. Stored in rcc.json beside config.json by checkpoints rcc writes; a checkpoint without
// it (the released layout, spec §5.5) gets the reference's values: W 2048, R 32, compat, bf16
// memory, the §4 preamble.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace rcc {

enum class WindowMode { Compat, Aligned };

// The arithmetic of the encoder's matrix products (spec §2.8): bf16 operands (the reference's), or
// FP8 E4M3 operands with one scale per operand on GPUs with FP8 tensor cores (CUDA, Hopper). The
// decoder always computes in the backend's own precision.
enum class EncoderPrecision { BF16, FP8 };
const char* precision_name(EncoderPrecision p);
EncoderPrecision parse_precision(const std::string& s);  // "bf16" | "fp8"
const char* mode_name(WindowMode m);
WindowMode parse_mode(const std::string& s);  // "compat" | "aligned"

struct ChatTemplate {
  // Decoder prompt for instruction reconstruction: the question is in the memory (§4).
  std::string preamble =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
  // Appended after the question in manual mode; the model writes the answer after it.
  std::string question_suffix = "<|im_end|>\n<|im_start|>assistant\n";
  // The answer is the text after the last occurrence of this marker.
  std::string answer_marker = "<|im_start|>assistant\n";
  // Joins context and question when both are compressed.
  std::string context_question_separator = "\n\n";
  // The answer ends before the first occurrence of this (end of turn); empty: never cut.
  std::string answer_end = "<|im_end|>";
};

struct RCCSettings {
  int64_t window = 2048;  // W
  int64_t ratio = 32;     // R; W must be a multiple of R
  WindowMode mode = WindowMode::Compat;
  DType memory_dtype = DType::BF16;  // the reference casts the memory to bf16 before the decoder
  EncoderPrecision encoder_precision = EncoderPrecision::BF16;  // "encoder_precision"
  ChatTemplate chat;

  int64_t slots_per_window() const { return window / ratio; }
  void validate(const std::string& source) const;
  // The encoder reads a window at positions 0..W-1: W must not exceed its max_position_embeddings
  // (checked before any work, so a huge window fails at once instead of after gigabytes).
  void check_window_fits(int64_t max_position_embeddings, const std::string& source) const;
  // rcc.json text; `source` names the file in errors.
  static RCCSettings parse(const std::string& json_text, const std::string& source);
  std::string to_json() const;
};

// Reads DIR/rcc.json when present, else the reference defaults.
RCCSettings load_rcc_settings(const std::string& dir);

}  // namespace rcc
