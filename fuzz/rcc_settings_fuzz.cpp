// libFuzzer target: arbitrary bytes as a checkpoint's rcc.json (rcc/settings.h, RCCSettings::parse,
// which load_rcc_settings calls on the file's text).
// Contract: parse either returns settings or throws rcc::Error; any other exception, a crash, a
// sanitizer report or a leak is a finding. Settings that parse must pass their own validate()
// (W in range, R dividing W, memory dtype f32 or bf16), give at least one slot per window, and
// (with the encoder precision among the fields compared)
// survive to_json(): writing them and parsing that again gives the same settings.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "rcc/settings.h"

namespace {
constexpr const char* kTarget = "rcc_settings_fuzz";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string text(reinterpret_cast<const char*>(data), size);
  RCCSettings s;
  if (!fuzz::expect_rcc_errors(kTarget, [&] { s = RCCSettings::parse(text, "rcc.json"); }))
    return 0;
  const bool valid = fuzz::expect_rcc_errors(kTarget, [&] { s.validate("parsed"); });
  FUZZ_REQUIRE(kTarget, valid, "parsed settings fail validate()");
  FUZZ_REQUIRE(kTarget, s.slots_per_window() >= 1 && s.slots_per_window() * s.ratio == s.window,
               "W is not a positive multiple of R");
  RCCSettings again;
  const bool reparsed =
      fuzz::expect_rcc_errors(kTarget, [&] { again = RCCSettings::parse(s.to_json(), "again"); });
  FUZZ_REQUIRE(kTarget, reparsed, "to_json() of parsed settings does not parse");
  FUZZ_REQUIRE(kTarget,
               again.window == s.window && again.ratio == s.ratio && again.mode == s.mode &&
                   again.memory_dtype == s.memory_dtype &&
                   again.encoder_precision == s.encoder_precision &&
                   again.chat.preamble == s.chat.preamble &&
                   again.chat.question_suffix == s.chat.question_suffix &&
                   again.chat.answer_marker == s.chat.answer_marker &&
                   again.chat.context_question_separator == s.chat.context_question_separator,
               "to_json() then parse() changed the settings");
  return 0;
}
