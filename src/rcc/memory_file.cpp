#include "rcc/memory_file.h"

#include <cstring>

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"
#include "io/container.h"
#include "rcc/windows.h"

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

// The slots and tail that `token_count` source tokens give in the memory's mode (spec §2.4, §2.5):
// a tail that disagrees with its ids would make an append drop the wrong slots (§2.7).
void check_window_layout(const Memory& m, int64_t P, const std::string& path) {
  const int64_t W = m.window, R = m.ratio, n = m.token_count, S = W / R;
  const int64_t tail = int64_t(m.tail_ids.size());
  const std::string where = str_cat(path, ": memory file field ");
  int64_t want_tail = 0, want_tail_slots = 0, want_slots = 0;
  if (m.mode == WindowMode::Compat) {
    RCC_CHECK(tail == 0, where, "'tail_ids' holds ", tail, " ids; a compat memory has no tail");
    RCC_CHECK(m.tail_slots == 0, where, "'tail_slots' = ", m.tail_slots,
              "; a compat memory has no tail");
    want_slots = n <= W ? S : S * (n / W + 1);
  } else {
    want_tail = n % W;  // the ids of the partial last window
    RCC_CHECK(tail == want_tail, where, "'tail_ids' holds ", tail, " ids, but 'token_count' = ", n,
              " leaves ", want_tail, " in a partial last window of W = ", W);
    want_tail_slots = int64_t(aligned_slot_positions(tail, R).size());
    RCC_CHECK(m.tail_slots == want_tail_slots, where, "'tail_slots' = ", m.tail_slots, ", but its ",
              tail, " tail ids give ", want_tail_slots, " slots (R = ", R, ")");
    want_slots = S * (n / W) + want_tail_slots;
  }
  RCC_CHECK(P == want_slots, where, "'slots' = ", P, ", but 'token_count' = ", n, " gives ",
            want_slots, " slots in ", mode_name(m.mode), " mode (W = ", W, ", R = ", R, ")");
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
  RCC_CHECK(m.window % m.ratio == 0, path, ": memory file field 'ratio' = ", m.ratio,
            " does not divide 'window' = ", m.window);
  RCC_CHECK(h.contains("mode") && h["mode"].is_string(), path, ": memory file has no mode");
  try {
    m.mode = parse_mode(h["mode"].get<std::string>());
  } catch (const Error& e) {
    fail(path, ": memory file field 'mode': ", e.what());
  }
  m.encoder_fingerprint = parse_hex(h, "encoder_fingerprint", path);
  m.source_hash = parse_hex(h, "source_hash", path);
  RCC_CHECK(h.contains("tail_ids") && h["tail_ids"].is_array(), path,
            ": memory file has no tail_ids");
  RCC_CHECK(int64_t(h["tail_ids"].size()) < m.window, path, ": memory file field 'tail_ids' holds ",
            h["tail_ids"].size(), " ids, a whole window or more");
  for (const auto& x : h["tail_ids"]) {
    RCC_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() <= INT32_MAX, path,
              ": memory file tail_ids must be token ids");
    m.tail_ids.push_back(x.get<int32_t>());
  }
  // The payload holds exactly the slots the header claims: a checked product, so that a claim that
  // wraps modulo 2^64 cannot match, compared with the payload before anything is allocated.
  const std::string slots_field = str_cat(path, ": memory file field 'slots' = ", P);
  const int64_t want = checked_product(slots_field, P, m.levels, m.hidden, dtype_size(m.dtype));
  RCC_CHECK(v.payload_bytes == uint64_t(want), slots_field, " of [", m.levels, ", ", m.hidden, "] ",
            dt, " needs ", want, " bytes but the payload holds ", v.payload_bytes);
  check_window_layout(m, P, path);
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
