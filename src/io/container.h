// rcc's own binary files (memory .rccm, decoder cache .rcckv) share one container:
//   magic[8] | u32 version | u32 reserved (0) | u64 header_len | header JSON | payload | u64 checksum
// All integers little-endian; checksum = XXH64 of every byte before it. Written atomically (temp +
// rename); read with every length checked against the file size before use and the checksum verified
// before any field is trusted.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace rcc {

class MappedFile;

struct ContainerView {
  nlohmann::json header;
  const unsigned char* payload = nullptr;
  size_t payload_bytes = 0;
  uint32_t version = 0;
  std::shared_ptr<MappedFile> file;  // keeps `payload` valid
};

// `payload` receives a function that appends payload bytes (may be called many times).
void write_container(const std::string& path, const char magic[8], uint32_t version,
                     const nlohmann::json& header,
                     const std::function<void(const std::function<void(const void*, size_t)>&)>& payload);

// Opens and verifies a container; `kind` names the file type in errors ("memory file").
// Versions above `max_version` are refused.
ContainerView read_container(const std::string& path, const char magic[8], uint32_t max_version,
                             const std::string& kind);

}  // namespace rcc
