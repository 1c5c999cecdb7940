// A checkpoint directory as Hugging Face writes it: config.json plus model.safetensors, or shards
// with model.safetensors.index.json, or bare shards. Every *.safetensors file is read in file-name
// order; a tensor name found in several shards is the concatenation of its pieces along dimension 0
// (spec §5.3). An index, when present, is checked against the shards.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace rcc {

class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }
  bool contains(const std::string& name) const { return pieces_.count(name) != 0; }
  std::vector<std::string> names() const;
  DType dtype(const std::string& name) const;
  Shape shape(const std::string& name) const;  // after concatenation
  // The tensor (a view into the mapped shard, or a concatenated copy).
  Tensor get(const std::string& name) const;
  // get() with a shape check; the error names the tensor, its shape and the expected one.
  Tensor get(const std::string& name, const Shape& expected) const;
  // Total bytes of all tensors.
  size_t total_bytes() const;

 private:
  struct Piece {
    size_t shard;     // index into shards_
    TensorInfo info;  // a copy, so that Checkpoint stays safely copyable
  };
  std::string dir_;
  std::vector<std::string> shard_paths_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, std::vector<Piece>> pieces_;
};

// The name under which a block-quantized (q8) matrix stored as `name` keeps its F16 scales.
inline std::string block_scale_name(const std::string& name) {
  return name + "_scale";
}

// Writes `tensors` (in order, converted to `dtype`) into `dir` as Hugging Face does: one
// model.safetensors, or shards model-0000K-of-0000N.safetensors of at most `max_shard_bytes` each
// (a tensor larger than that gets a shard of its own) with model.safetensors.index.json. A stale
// index is removed when one file suffices. Each file is written atomically. A block-quantized
// tensor is written as it is, its I8 values under its name and its scales under
// block_scale_name(name).
void write_checkpoint(const std::string& dir, std::vector<std::pair<std::string, Tensor>> tensors,
                      DType dtype, size_t max_shard_bytes);

}  // namespace rcc
