#include "rcc/settings.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "io/atomic_file.h"

namespace rcc {

using json = nlohmann::json;

const char* mode_name(WindowMode m) {
  return m == WindowMode::Compat ? "compat" : "aligned";
}

WindowMode parse_mode(const std::string& s) {
  if (s == "compat") return WindowMode::Compat;
  if (s == "aligned") return WindowMode::Aligned;
  fail("unknown window mode '", s, "' (compat or aligned)");
}

const char* precision_name(EncoderPrecision p) {
  return p == EncoderPrecision::FP8 ? "fp8" : "bf16";
}

EncoderPrecision parse_precision(const std::string& s) {
  if (s == "bf16") return EncoderPrecision::BF16;
  if (s == "fp8") return EncoderPrecision::FP8;
  fail("unknown encoder precision '", s, "' (bf16 or fp8)");
}

void RCCSettings::check_window_fits(int64_t max_positions, const std::string& src) const {
  RCC_CHECK(window <= max_positions, src, ": window ", window,
            " exceeds the encoder's max_position_embeddings (", max_positions,
            "): a window is encoded at positions 0..window-1");
}

void RCCSettings::validate(const std::string& src) const {
  RCC_CHECK(window >= 1 && window <= (int64_t(1) << 20), src, ": window ", window,
            " out of range [1, 1048576]");
  RCC_CHECK(ratio >= 1 && window % ratio == 0, src, ": window ", window,
            " must be a positive multiple of ratio ", ratio);
  RCC_CHECK(memory_dtype == DType::F32 || memory_dtype == DType::BF16, src,
            ": memory_dtype must be f32 or bf16");
}

RCCSettings RCCSettings::parse(const std::string& text, const std::string& src) {
  const json j = parse_json(text, src);
  RCC_CHECK(j.is_object(), src, ": expected a JSON object");
  RCCSettings s;
  auto int_field = [&](const char* k, int64_t* out) {
    if (!j.contains(k)) return;
    RCC_CHECK(j[k].is_number_integer(), src, ": '", k, "' must be an integer");
    *out = j[k].get<int64_t>();
  };
  auto str_field = [&](const json& o, const char* k, std::string* out) {
    if (!o.contains(k)) return;
    RCC_CHECK(o[k].is_string(), src, ": '", k, "' must be a string");
    *out = o[k].get<std::string>();
  };
  int_field("window", &s.window);
  int_field("ratio", &s.ratio);
  std::string mode = mode_name(s.mode), mdt = "bf16", prec = "bf16";
  str_field(j, "mode", &mode);
  str_field(j, "memory_dtype", &mdt);
  str_field(j, "encoder_precision", &prec);
  try {
    s.mode = parse_mode(mode);
  } catch (const Error& e) {
    fail(src, ": 'mode': ", e.what());
  }
  try {
    s.encoder_precision = parse_precision(prec);
  } catch (const Error& e) {
    fail(src, ": 'encoder_precision': ", e.what());
  }
  RCC_CHECK(mdt == "bf16" || mdt == "f32", src, ": memory_dtype must be \"bf16\" or \"f32\"");
  s.memory_dtype = mdt == "f32" ? DType::F32 : DType::BF16;
  if (j.contains("chat")) {
    RCC_CHECK(j["chat"].is_object(), src, ": 'chat' must be an object");
    str_field(j["chat"], "preamble", &s.chat.preamble);
    str_field(j["chat"], "question_suffix", &s.chat.question_suffix);
    str_field(j["chat"], "answer_marker", &s.chat.answer_marker);
    str_field(j["chat"], "context_question_separator", &s.chat.context_question_separator);
    str_field(j["chat"], "answer_end", &s.chat.answer_end);
  }
  s.validate(src);
  return s;
}

std::string RCCSettings::to_json() const {
  json j;
  j["format"] = "rcc";
  j["version"] = 1;
  j["window"] = window;
  j["ratio"] = ratio;
  j["mode"] = mode_name(mode);
  j["memory_dtype"] = memory_dtype == DType::F32 ? "f32" : "bf16";
  if (encoder_precision != EncoderPrecision::BF16)  // files written before it existed stay alike
    j["encoder_precision"] = precision_name(encoder_precision);
  j["chat"] = {{"preamble", chat.preamble},
               {"question_suffix", chat.question_suffix},
               {"answer_marker", chat.answer_marker},
               {"context_question_separator", chat.context_question_separator},
               {"answer_end", chat.answer_end}};
  return j.dump(2) + "\n";
}

RCCSettings load_rcc_settings(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "rcc.json").string();
  if (!std::filesystem::exists(path)) return RCCSettings{};
  return RCCSettings::parse(read_text_file(path), path);
}

}  // namespace rcc
