#include "rcc/kv_file.h"

#include <cstring>
#include <vector>

#include "core/checked.h"
#include "core/hash.h"
#include "io/container.h"

namespace rcc {

namespace {
constexpr char kMagic[8] = {'R', 'C', 'C', 'K', 'V', 0, 0, 0};
constexpr uint32_t kVersion = 1;
}  // namespace

uint64_t decoder_fingerprint(const RCCModel& m) {
  Xxh64 h;
  const std::string cfg = m.decoder.config().to_json();
  h.update(cfg.data(), cfg.size());
  auto add = [&](const Tensor& t) {
    h.update(t.shape().data(), t.shape().size() * 8);
    h.update(t.raw(), t.nbytes());
  };
  for (const auto& kv : m.decoder.weights().named()) add(kv.second);
  add(m.embed_proj);
  for (const auto& a : m.layer_proj) add(a);
  return h.digest();
}

void save_decoder_cache(const std::string& path, const DecoderMemory& dm, uint64_t memory_id,
                        uint64_t decoder_fp) {
  const KVCache& c = dm.cache();
  const int64_t P = dm.length();
  nlohmann::json h;
  h["format"] = "rcc-decoder-cache";
  h["memory_identity"] = hex64(memory_id);
  h["decoder_fingerprint"] = hex64(decoder_fp);
  h["positions"] = P;
  h["layers"] = c.layers();
  h["width"] = c.width();
  h["dtype"] = "F32";
  Backend& be = c.backend();
  RCC_CHECK(be.is_host() || c.dtype() == be.act_dtype(), path,
            ": saving an 8-bit decoder cache is not supported");
  std::vector<float> k, v;  // device caches are staged through host f32, one layer at a time
  write_container(path, kMagic, kVersion, h, [&](const auto& out) {
    for (int64_t l = 0; l < c.layers(); ++l) {
      if (be.is_host()) {
        out(c.k(l), size_t(P * c.width()) * 4);
        out(c.v(l), size_t(P * c.width()) * 4);
      } else {
        k.resize(size_t(P * c.width()));
        v.resize(k.size());
        be.download_f32(c.k_data(l), P * c.width(), k.data());
        be.download_f32(c.v_data(l), P * c.width(), v.data());
        out(k.data(), k.size() * 4);
        out(v.data(), v.size() * 4);
      }
    }
  });
}

void load_decoder_cache(const std::string& path, DecoderMemory& dm, uint64_t memory_id,
                        uint64_t decoder_fp) {
  ContainerView v = read_container(path, kMagic, kVersion, "rcc decoder cache");
  const auto& h = v.header;
  auto str = [&](const char* k) {
    RCC_CHECK(h.contains(k) && h[k].is_string(), path, ": decoder cache field '", k, "' missing");
    return h[k].get<std::string>();
  };
  auto num = [&](const char* k) {
    RCC_CHECK(h.contains(k) && h[k].is_number_integer() && h[k].get<int64_t>() >= 0, path,
              ": decoder cache field '", k, "' missing or invalid");
    return h[k].get<int64_t>();
  };
  RCC_CHECK(str("memory_identity") == hex64(memory_id), path,
            ": decoder cache belongs to another memory");
  RCC_CHECK(str("decoder_fingerprint") == hex64(decoder_fp), path,
            ": decoder cache was made by another decoder");
  const int64_t P = num("positions"), layers = num("layers"), width = num("width");
  RCC_CHECK(layers == dm.cache().layers() && width == dm.cache().width(), path,
            ": decoder cache shape does not match the model");
  // layers x (K, V) x P x width f32, checked against the payload before the cache is reserved.
  const std::string field = str_cat(path, ": decoder cache field 'positions' = ", P);
  const int64_t half = checked_product(field, P, width, 4);  // K (or V) of one layer
  const int64_t want = checked_product(field, layers, 2, half);
  RCC_CHECK(v.payload_bytes == uint64_t(want), field, " needs ", want,
            " bytes of payload but the file holds ", v.payload_bytes);
  dm.restore(P, [&](int64_t l, float* k, float* val) {
    if (half == 0) return;  // no positions: the empty cache may hold no buffers (null k, val)
    const unsigned char* base = v.payload + size_t(l) * 2 * size_t(half);
    std::memcpy(k, base, size_t(half));
    std::memcpy(val, base + half, size_t(half));
  });
}

}  // namespace rcc
