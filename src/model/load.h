// Opening a Hugging Face GPT-NeoX model directory (config.json + safetensors).
#pragma once
#include <string>

#include "model/gptneox.h"

namespace rcc {

GPTNeoX load_gptneox(const std::string& dir, Backend& be = cpu_backend());

}  // namespace rcc
