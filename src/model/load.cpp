#include "model/load.h"

#include <filesystem>

#include "io/checkpoint.h"

namespace rcc {

GPTNeoX load_gptneox(const std::string& dir, Backend& be) {
  const std::string cfg_path = (std::filesystem::path(dir) / "config.json").string();
  RCC_CHECK(std::filesystem::is_directory(dir), dir, ": model directory not found");
  RCC_CHECK(std::filesystem::exists(cfg_path), dir, ": no config.json");
  GPTNeoXConfig cfg = GPTNeoXConfig::load(cfg_path);
  Checkpoint ckpt = Checkpoint::open(dir);
  return GPTNeoX(cfg, GPTNeoXWeights::load(ckpt, cfg), be);
}

}  // namespace rcc
