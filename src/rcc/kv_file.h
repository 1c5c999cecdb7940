// Saved decoder caches (.rcckv): the decoder keys/values of a memory's P positions, so that `rcc ask`
// skips the memory prefill. Container magic "RCCKV\0\0\0"; header: memory_identity,
// decoder_fingerprint, positions, layers, width; payload: for each layer K [P, width] then
// V [P, width], f32. A cache is used only when both identities match.
#pragma once
#include <string>

#include "rcc/decoder_memory.h"

namespace rcc {

// XXH64 over the decoder's config and weights and the projections E, A_i.
uint64_t decoder_fingerprint(const RCCModel& m);

void save_decoder_cache(const std::string& path, const DecoderMemory& dm, uint64_t memory_id,
                        uint64_t decoder_fp);
// Fills `dm` (which must be empty) from the file; throws when it belongs to another memory/model.
void load_decoder_cache(const std::string& path, DecoderMemory& dm, uint64_t memory_id,
                        uint64_t decoder_fp);

}  // namespace rcc
