#include "io/container.h"

#include <cstring>

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace rcc {

namespace {
constexpr size_t kFixed = 8 + 4 + 4 + 8;  // magic, version, reserved, header_len
constexpr uint64_t kMaxHeader = 64u << 20;

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return v;
}
}  // namespace

void write_container(
    const std::string& path, const char magic[8], uint32_t version, const nlohmann::json& header,
    const std::function<void(const std::function<void(const void*, size_t)>&)>& payload) {
  const std::string h = header.dump();
  write_file_atomic(path, [&](const auto& out) {
    Xxh64 sum;
    auto emit = [&](const void* p, size_t n) {
      sum.update(p, n);
      out(p, n);
    };
    unsigned char fixed[kFixed];
    std::memcpy(fixed, magic, 8);
    put_u32(fixed + 8, version);
    put_u32(fixed + 12, 0);
    put_u64(fixed + 16, h.size());
    emit(fixed, kFixed);
    emit(h.data(), h.size());
    payload(emit);
    unsigned char tail[8];
    put_u64(tail, sum.digest());
    out(tail, 8);
  });
}

ContainerView read_container(const std::string& path, const char magic[8], uint32_t max_version,
                             const std::string& kind) {
  ContainerView v;
  v.file = MappedFile::open(path);
  const unsigned char* d = v.file->data();
  const size_t size = v.file->size();
  RCC_CHECK(size >= kFixed + 8, path, ": not a ", kind, " (", size, " bytes: truncated)");
  RCC_CHECK(std::memcmp(d, magic, 8) == 0, path, ": not a ", kind, " (bad magic)");
  v.version = get_u32(d + 8);
  RCC_CHECK(v.version >= 1 && v.version <= max_version, path, ": ", kind, " format version ",
            v.version, " is not supported (this rcc reads up to ", max_version, ")");
  const uint64_t hlen = get_u64(d + 16);
  RCC_CHECK(hlen <= kMaxHeader, path, ": ", kind, " is corrupt (header length ", hlen,
            " exceeds the limit of ", kMaxHeader, ")");
  const int64_t framed =
      checked_add(int64_t(kFixed + 8), int64_t(hlen), str_cat(path, ": ", kind, " header length"));
  RCC_CHECK(uint64_t(framed) <= size, path, ": ", kind, " is truncated or corrupt (header length ",
            hlen, " exceeds the file)");
  const uint64_t stored = get_u64(d + size - 8);
  RCC_CHECK(xxh64(d, size - 8) == stored, path, ": ", kind,
            " is corrupt or truncated (checksum mismatch)");
  v.header = parse_json(std::string_view(reinterpret_cast<const char*>(d + kFixed), size_t(hlen)),
                        path + " (" + kind + " header)");
  RCC_CHECK(v.header.is_object(), path, ": ", kind, " header is not a JSON object");
  v.payload = d + kFixed + hlen;
  v.payload_bytes = size - size_t(framed);
  return v;
}

}  // namespace rcc
