// Hashes used by the file formats: XXH64 (the published algorithm, seed 0 by default) for checksums
// and fingerprints, and a chunking-independent running hash of a token sequence.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rcc {

uint64_t xxh64(const void* data, size_t n, uint64_t seed = 0);

// Streaming XXH64: update() any number of times; digest() equals xxh64() of the concatenation.
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  uint64_t v_[4];
  uint64_t seed_, total_ = 0;
  unsigned char buf_[32];
  size_t buffered_ = 0;
};

// Hash of a token-id sequence that can be extended: hash(a ++ b) == extend(hash(a), b).
uint64_t token_hash_extend(uint64_t h, const int32_t* ids, size_t n);
inline uint64_t token_hash(const std::vector<int32_t>& ids) {
  return token_hash_extend(0, ids.data(), ids.size());
}

std::string hex64(uint64_t v);

}  // namespace rcc
