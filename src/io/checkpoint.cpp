#include "io/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "io/atomic_file.h"

namespace rcc {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void check_index(const std::string& dir, const std::vector<std::string>& shard_paths,
                 const std::vector<SafetensorsFile>& shards) {
  fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(index_path)) return;
  const json index = read_json_file(index_path.string());
  RCC_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            index_path.string(), ": missing object 'weight_map'");
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    RCC_CHECK(it.value().is_string(), index_path.string(), ": weight_map['", it.key(),
              "'] is not a file name");
    std::string file = it.value().get<std::string>();
    auto pos = std::find_if(shard_paths.begin(), shard_paths.end(),
                            [&](const std::string& p) { return fs::path(p).filename() == file; });
    RCC_CHECK(pos != shard_paths.end(), index_path.string(), ": tensor '", it.key(),
              "' is mapped to missing shard '", file, "'");
    RCC_CHECK(shards[size_t(pos - shard_paths.begin())].contains(it.key()), index_path.string(),
              ": tensor '", it.key(), "' is not in shard '", file, "'");
  }
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  RCC_CHECK(fs::is_directory(dir), dir, ": not a directory");
  Checkpoint c;
  c.dir_ = dir;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors")
      c.shard_paths_.push_back(e.path().string());
  std::sort(c.shard_paths_.begin(), c.shard_paths_.end());
  RCC_CHECK(!c.shard_paths_.empty(), dir, ": no *.safetensors files");
  for (const auto& p : c.shard_paths_) c.shards_.push_back(SafetensorsFile::open(p));
  for (size_t s = 0; s < c.shards_.size(); ++s)
    for (const auto& [name, info] : c.shards_[s].tensors())
      c.pieces_[name].push_back(Piece{s, info});
  for (const auto& [name, pieces] : c.pieces_) {
    if (pieces.size() < 2) continue;
    const TensorInfo& first = pieces[0].info;
    for (size_t i = 1; i < pieces.size(); ++i) {
      const Piece& p = pieces[i];
      RCC_CHECK(
          p.info.dtype == first.dtype && p.info.shape.size() == first.shape.size() &&
              !first.shape.empty() &&
              std::equal(first.shape.begin() + 1, first.shape.end(), p.info.shape.begin() + 1),
          dir, ": tensor '", name, "' is split across shards with incompatible pieces (",
          dtype_name(first.dtype), shape_str(first.shape), " in ", c.shard_paths_[pieces[0].shard],
          " vs ", dtype_name(p.info.dtype), shape_str(p.info.shape), " in ",
          c.shard_paths_[p.shard], ")");
    }
    // The joined tensor's rows and bytes, checked (each piece's were, against its file).
    const Shape joined = c.shape(name);
    int64_t bytes = int64_t(dtype_size(first.dtype));
    for (int64_t d : joined)
      bytes = checked_mul(
          bytes, d,
          str_cat(dir, ": tensor '", name, "' joined from shards: shape ", shape_str(joined)));
  }
  check_index(dir, c.shard_paths_, c.shards_);
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> r;
  for (const auto& kv : pieces_) r.push_back(kv.first);
  return r;
}

DType Checkpoint::dtype(const std::string& name) const {
  auto it = pieces_.find(name);
  RCC_CHECK(it != pieces_.end(), dir_, ": missing tensor '", name, "'");
  return it->second[0].info.dtype;
}

Shape Checkpoint::shape(const std::string& name) const {
  auto it = pieces_.find(name);
  RCC_CHECK(it != pieces_.end(), dir_, ": missing tensor '", name, "'");
  Shape s = it->second[0].info.shape;
  for (size_t i = 1; i < it->second.size(); ++i)  // rows of a tensor split across shards
    s[0] = checked_add(s[0], it->second[i].info.shape[0],
                       str_cat(dir_, ": tensor '", name, "' split across shards: its rows"));
  return s;
}

Tensor Checkpoint::get(const std::string& name) const {
  auto it = pieces_.find(name);
  RCC_CHECK(it != pieces_.end(), dir_, ": missing tensor '", name, "'");
  const auto& pieces = it->second;
  if (pieces.size() == 1) return shards_[pieces[0].shard].get(name);
  Tensor out = Tensor::empty(pieces[0].info.dtype, shape(name));
  char* dst = static_cast<char*>(out.raw());
  for (const Piece& p : pieces) {
    Tensor part = shards_[p.shard].get(name);
    std::memcpy(dst, part.raw(), part.nbytes());
    dst += part.nbytes();
  }
  return out;
}

Tensor Checkpoint::get(const std::string& name, const Shape& expected) const {
  RCC_CHECK(contains(name), dir_, ": missing tensor '", name, "' (expected shape ",
            shape_str(expected), ")");
  Shape s = shape(name);
  RCC_CHECK(s == expected, dir_, ": tensor '", name, "' has shape ", shape_str(s), ", expected ",
            shape_str(expected));
  return get(name);
}

size_t Checkpoint::total_bytes() const {
  size_t n = 0;
  for (const auto& kv : pieces_)
    for (const Piece& p : kv.second) n += p.info.end - p.info.begin;
  return n;
}

void write_checkpoint(const std::string& dir, std::vector<std::pair<std::string, Tensor>> tensors,
                      DType dtype, size_t max_shard_bytes) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> stored;
  for (auto& kv : tensors) {
    if (kv.second.quantized()) {
      const Tensor scales = kv.second.block_scales();
      stored.emplace_back(kv.first, Tensor::borrow(DType::I8, kv.second.shape(), kv.second.raw(),
                                                   std::make_shared<Tensor>(kv.second)));
      stored.emplace_back(block_scale_name(kv.first), scales);
      continue;
    }
    // Vectors (norms, biases) are written in the same dtype as matrices, as Hugging Face does.
    if (kv.second.dtype() != dtype) kv.second = kv.second.to(dtype);
    stored.push_back(std::move(kv));
  }
  tensors = std::move(stored);
  // Greedy packing into shards in order.
  std::vector<std::vector<std::pair<std::string, Tensor>>> shards(1);
  size_t bytes = 0;
  for (auto& kv : tensors) {
    if (bytes > 0 && bytes + kv.second.nbytes() > max_shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(kv);
    bytes += kv.second.nbytes();
  }
  nlohmann::json index;
  size_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    const std::string file = shards.size() == 1 ? "model.safetensors" : name;
    write_safetensors((fs::path(dir) / file).string(), shards[s], {{"format", "pt"}});
    for (auto& kv : shards[s]) {
      index["weight_map"][kv.first] = file;
      total += kv.second.nbytes();
    }
  }
  if (shards.size() > 1) {
    index["metadata"]["total_size"] = total;
    write_string_atomic((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2));
  } else {
    fs::remove(fs::path(dir) / "model.safetensors.index.json");
  }
}

}  // namespace rcc
