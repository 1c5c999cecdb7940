// Opening a Hugging Face GPT-NeoX model directory (config.json + safetensors).
#pragma once
#include <string>

#include "model/transformer.h"

namespace rcc {

Transformer load_model(const std::string& dir, Backend& be = cpu_backend());

}  // namespace rcc
