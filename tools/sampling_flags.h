// The sampling flags shared by generate and (later) ask.
#pragma once
#include "args.h"
#include "sample/sampler.h"

namespace rcc::cli {

inline SamplingParams sampling_from_flags(const Args& a) {
  SamplingParams p;
  p.temperature = float(a.get_double("temperature", 0.0));
  p.top_k = int(a.get_int("top-k", 0, 0, 1 << 30));
  p.top_p = float(a.get_double("top-p", 1.0));
  p.repetition_penalty = float(a.get_double("repetition-penalty", 1.0));
  p.seed = uint64_t(a.get_int("seed", 0, 0, INT64_MAX));
  try {
    p.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return p;
}

}  // namespace rcc::cli
