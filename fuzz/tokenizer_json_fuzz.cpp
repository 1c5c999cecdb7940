// libFuzzer target: arbitrary bytes as a tokenizer.json. Loading must either succeed or throw
// rcc::Error (never crash, never another exception type); a tokenizer that loads must encode and
// decode a few strings and arbitrary ids without failing. Built and run by scripts/fuzz.sh.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    const rcc::Tokenizer t = rcc::Tokenizer::from_json(json, "fuzz.json");
    for (const char* text : {"hello world", "  <s>x\xFF\u00e9", "'s 12 \U0001F600\n\n  \t", ""}) {
      const std::vector<int32_t> ids = t.encode(text);
      for (int32_t id : ids)
        if (id < 0 || id >= t.vocab_size()) std::abort();
      if (!rcc::tok::utf8::is_valid(t.decode(ids))) std::abort();
    }
    std::vector<int32_t> raw;
    for (int32_t id = -2; id < 300; ++id) raw.push_back(id);
    if (!rcc::tok::utf8::is_valid(t.decode(raw, true))) std::abort();
  } catch (const rcc::Error&) {
    // expected for bad input
  }
  return 0;
}
