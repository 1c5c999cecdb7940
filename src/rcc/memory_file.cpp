#include "rcc/memory_file.h"

#include <cstring>

#include "core/error.h"
#include "core/hash.h"
#include "io/container.h"

namespace rcc {

namespace {
constexpr char kMagic[8] = {'R', 'C', 'C', 'M', 'E', 'M', 0, 0};
constexpr uint32_t kVersion = 1;

uint64_t parse_hex(const nlohmann::json& j, const char* key, const std::string& path) {
  RCC_CHECK(j.contains(key) && j[key].is_string() && j[key].get<std::string>().size() == 16, path,
            ": memory file field '", key, "' missing or malformed");
  const std::string s = j[key].get<std::string>();
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    RCC_CHECK(d >= 0, path, ": memory file field '", key, "' is not hex");
    v = v << 4 | uint64_t(d);
  }
  return v;
}

int64_t get_int(const nlohmann::json& j, const char* key, const std::string& path, int64_t lo,
                int64_t hi) {
  RCC_CHECK(j.contains(key) && j[key].is_number_integer(), path, ": memory file field '", key,
            "' missing or not an integer");
  int64_t v = j[key].get<int64_t>();
  RCC_CHECK(v >= lo && v <= hi, path, ": memory file field '", key, "' = ", v, " out of range");
  return v;
}
}  // namespace

uint64_t memory_identity(const Memory& m) {
  Xxh64 h;
  h.update(m.data.data(), m.data.size());
  int64_t f[6] = {m.levels, m.hidden, m.window, m.ratio, m.token_count, int64_t(m.dtype)};
  h.update(f, sizeof f);
  h.update(&m.encoder_fingerprint, 8);
  h.update(&m.source_hash, 8);
  return h.digest();
}

void save_memory(const std::string& path, const Memory& m) {
  nlohmann::json h;
  h["format"] = "rcc-memory";
  h["format_version"] = kVersion;
  h["encoder_fingerprint"] = hex64(m.encoder_fingerprint);
  h["window"] = m.window;
  h["ratio"] = m.ratio;
  h["mode"] = mode_name(m.mode);
  h["token_count"] = m.token_count;
  h["source_hash"] = hex64(m.source_hash);
  h["dtype"] = dtype_name(m.dtype);
  h["slots"] = m.slots();
  h["levels"] = m.levels;
  h["hidden"] = m.hidden;
  h["tail_ids"] = m.tail_ids;
  h["tail_slots"] = m.tail_slots;
  write_container(path, kMagic, kVersion, h,
                  [&](const auto& out) { out(m.data.data(), m.data.size()); });
}

Memory load_memory(const std::string& path) {
  ContainerView v = read_container(path, kMagic, kVersion, "rcc memory file");
  const auto& h = v.header;
  Memory m;
  RCC_CHECK(h.contains("dtype") && h["dtype"].is_string(), path, ": memory file has no dtype");
  const std::string dt = h["dtype"].get<std::string>();
  RCC_CHECK(dt == "BF16" || dt == "F32", path, ": memory dtype '", dt, "' is not BF16 or F32");
  m.dtype = dt == "BF16" ? DType::BF16 : DType::F32;
  m.levels = get_int(h, "levels", path, 2, 4096);
  m.hidden = get_int(h, "hidden", path, 1, 1 << 20);
  const int64_t P = get_int(h, "slots", path, 0, int64_t(1) << 40);
  m.window = get_int(h, "window", path, 1, 1 << 20);
  m.ratio = get_int(h, "ratio", path, 1, 1 << 20);
  m.token_count = get_int(h, "token_count", path, 0, int64_t(1) << 50);
  m.tail_slots = get_int(h, "tail_slots", path, 0, P);
  RCC_CHECK(h.contains("mode") && h["mode"].is_string(), path, ": memory file has no mode");
  m.mode = parse_mode(h["mode"].get<std::string>());
  m.encoder_fingerprint = parse_hex(h, "encoder_fingerprint", path);
  m.source_hash = parse_hex(h, "source_hash", path);
  RCC_CHECK(h.contains("tail_ids") && h["tail_ids"].is_array(), path, ": memory file has no tail_ids");
  for (const auto& x : h["tail_ids"]) {
    RCC_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() <= INT32_MAX,
              path, ": memory file tail_ids must be token ids");
    m.tail_ids.push_back(x.get<int32_t>());
  }
  RCC_CHECK(int64_t(m.tail_ids.size()) < m.window, path, ": memory file tail longer than a window");
  const uint64_t want = uint64_t(P) * uint64_t(m.slot_bytes());
  RCC_CHECK(v.payload_bytes == want, path, ": memory file holds ", v.payload_bytes,
            " bytes of slots, expected ", want, " for [", P, ", ", m.levels, ", ", m.hidden, "] ", dt);
  m.data.assign(v.payload, v.payload + v.payload_bytes);
  return m;
}

Memory load_memory_for(const std::string& path, uint64_t fingerprint, int64_t window,
                       int64_t ratio) {
  Memory m = load_memory(path);
  RCC_CHECK(m.encoder_fingerprint == fingerprint, path,
            ": this memory was made by another encoder (fingerprint ", hex64(m.encoder_fingerprint),
            ", this model's is ", hex64(fingerprint), ")");
  RCC_CHECK(m.window == window && m.ratio == ratio, path, ": memory made with W=", m.window,
            ", R=", m.ratio, " but the model uses W=", window, ", R=", ratio);
  return m;
}

}  // namespace rcc
