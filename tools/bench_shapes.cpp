#include "bench_shapes.h"

#include "core/error.h"

namespace rcc::cli {

ModelConfig bench_shape(const std::string& name) {
  ModelConfig c;
  c.vocab_size = 50304;
  if (name == "160m") {
    c.hidden_size = 768, c.num_layers = 12, c.num_heads = 12;
  } else if (name == "410m") {
    c.hidden_size = 1024, c.num_layers = 24, c.num_heads = 16;
  } else if (name == "1.4b") {
    c.hidden_size = 2048, c.num_layers = 24, c.num_heads = 16;
  } else if (name == "rcc-tiny") {
    c.hidden_size = 256, c.num_layers = 6, c.num_heads = 4, c.vocab_size = 8192;
    c.rotary_base = 500000;
  } else if (name == "tiny") {
    c.hidden_size = 128, c.num_layers = 2, c.num_heads = 4, c.vocab_size = 1024;
  } else {
    throw UsageError("unknown shape '" + name + "' (tiny, rcc-tiny, 160m, 410m, 1.4b)");
  }
  c.intermediate_size = 4 * c.hidden_size;
  return c;
}

}  // namespace rcc::cli
