#include "model/load.h"

#include <filesystem>

#include "io/checkpoint.h"

namespace rcc {

Transformer load_model(const std::string& dir, Backend& be) {
  const std::string cfg_path = (std::filesystem::path(dir) / "config.json").string();
  RCC_CHECK(std::filesystem::is_directory(dir), dir, ": model directory not found");
  RCC_CHECK(std::filesystem::exists(cfg_path), dir, ": no config.json");
  ModelConfig cfg = ModelConfig::load(cfg_path);
  Checkpoint ckpt = Checkpoint::open(dir);
  return Transformer(cfg, ModelWeights::load(ckpt, cfg), be);
}

}  // namespace rcc
