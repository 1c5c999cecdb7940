// Memory files (.rccm): a Memory in the rcc container (io/container.h), magic "RCCMEM\0\0".
// Header fields: format_version, encoder_fingerprint, window, ratio, mode, token_count, source_hash,
// dtype, slots, levels, hidden, tail_ids, tail_slots. Payload: the slots [P, L+1, H] in `dtype`.
// See docs/formats.md.
#pragma once
#include <string>

#include "rcc/memory.h"

namespace rcc {

void save_memory(const std::string& path, const Memory& m);
Memory load_memory(const std::string& path);
// Loads and refuses a memory made by another encoder (or another W/R).
Memory load_memory_for(const std::string& path, uint64_t encoder_fingerprint, int64_t window,
                       int64_t ratio);
// XXH64 of the file's slot payload and identity fields: ties a decoder cache to its memory.
uint64_t memory_identity(const Memory& m);

}  // namespace rcc
