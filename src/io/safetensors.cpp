#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/json_fields.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace rcc {

using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& e,
                       size_t data_size) {
  auto where = [&] { return str_cat(path, ": tensor '", name, "'"); };
  RCC_CHECK(e.is_object(), where(), ": header entry is not an object");
  RCC_CHECK(e.contains("dtype") && e["dtype"].is_string(), where(), ": missing string 'dtype'");
  RCC_CHECK(e.contains("shape") && e["shape"].is_array(), where(), ": missing array 'shape'");
  RCC_CHECK(
      e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2,
      where(), ": missing 'data_offsets' [begin, end]");
  TensorInfo info;
  std::string dt = e["dtype"].get<std::string>();
  RCC_CHECK(dtype_from_name(dt, &info.dtype), where(), ": unknown dtype '", dt, "'");
  for (const auto& d : e["shape"]) {
    RCC_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where(),
              ": shape entries must be non-negative integers");
    RCC_CHECK(d.get<uint64_t>() < (uint64_t(1) << 48), where(), ": absurd dimension ", d.dump());
    info.shape.push_back(d.get<int64_t>());
  }
  for (int i = 0; i < 2; ++i)
    RCC_CHECK(e["data_offsets"][size_t(i)].is_number_unsigned() ||
                  (e["data_offsets"][size_t(i)].is_number_integer() &&
                   e["data_offsets"][size_t(i)].get<int64_t>() >= 0),
              where(), ": data_offsets must be non-negative integers");
  uint64_t b = e["data_offsets"][0].get<uint64_t>(), en = e["data_offsets"][1].get<uint64_t>();
  RCC_CHECK(b <= en, where(), ": data_offsets [", b, ", ", en, "] are reversed");
  RCC_CHECK(en <= data_size, where(), ": data_offsets [", b, ", ", en,
            "] run past the end of the data (", data_size, " bytes)");
  // shape x dtype size, checked: a shape whose size wraps modulo 2^64 must not match the offsets.
  const std::string shape_what = str_cat(where(), ": shape ", shape_str(info.shape), " of ", dt);
  int64_t want = int64_t(dtype_size(info.dtype));
  for (int64_t d : info.shape) want = checked_mul(want, d, shape_what);
  RCC_CHECK(en - b == uint64_t(want), shape_what, " needs ", want, " bytes but data_offsets give ",
            en - b);
  info.begin = size_t(b);
  info.end = size_t(en);
  return info;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.file_ = MappedFile::open(path);
  size_t size = f.file_->size();
  RCC_CHECK(size >= 8, path, ": truncated safetensors file (", size,
            " bytes, the header length alone needs 8)");
  uint64_t n = read_u64_le(f.file_->data());
  RCC_CHECK(n <= size - 8, path, ": header length ", n, " runs past the end of the file (", size,
            " bytes)");
  RCC_CHECK(n <= kMaxHeaderBytes, path, ": header length ", n, " exceeds the limit of ",
            kMaxHeaderBytes);
  f.data_start_ = 8 + size_t(n);
  size_t data_size = size - f.data_start_;
  const char* hp = reinterpret_cast<const char*>(f.file_->data() + 8);
  const json header = parse_json(std::string_view(hp, size_t(n)), path + " (header)");
  RCC_CHECK(header.is_object(), path, ": header is not a JSON object");
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      RCC_CHECK(it.value().is_object(), path, ": __metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        RCC_CHECK(m.value().is_string(), path, ": __metadata__ value '", m.key(),
                  "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TensorInfo info = parse_entry(path, it.key(), it.value(), data_size);
    if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
    f.infos_[it.key()] = std::move(info);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    RCC_CHECK(ranges[i].first >= ranges[i - 1].second, path, ": tensor byte ranges overlap ([",
              ranges[i - 1].first, ", ", ranges[i - 1].second, ") and [", ranges[i].first, ", ",
              ranges[i].second, "))");
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  RCC_CHECK(it != infos_.end(), path_, ": no tensor named '", name, "'");
  return it->second;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo& in = info(name);
  const unsigned char* p = file_->data() + data_start_ + in.begin;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(in.dtype) != 0) {  // unaligned: copy
    Tensor t = Tensor::empty(in.dtype, in.shape);
    std::memcpy(t.raw(), p, in.end - in.begin);
    return t;
  }
  return Tensor::borrow(in.dtype, in.shape, const_cast<unsigned char*>(p), file_);
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    RCC_CHECK(name != "__metadata__" && !header.contains(name), path,
              ": duplicate or reserved tensor name '", name, "'");
    json e;
    e["dtype"] = dtype_name(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {offset, offset + t.nbytes()};
    header[name] = e;
    offset += t.nbytes();
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keep the data region 8-byte aligned
  write_file_atomic(path, [&](const auto& out) {
    unsigned char len[8];
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out(len, 8);
    out(h.data(), h.size());
    for (const auto& kv : tensors) out(kv.second.raw(), kv.second.nbytes());
  });
}

}  // namespace rcc
