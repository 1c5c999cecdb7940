// A compressed context (spec §2.6): the slots of all windows in order, [P, L+1, H], plus what is
// needed to check compatibility (encoder fingerprint, W, R, mode) and to append to it later.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "rcc/settings.h"

namespace rcc {

struct Memory {
  DType dtype = DType::BF16;        // storage of the slots: BF16 or F32
  int64_t levels = 0;               // L + 1
  int64_t hidden = 0;               // H
  std::vector<unsigned char> data;  // P · levels · hidden elements of `dtype`, slot-major

  int64_t window = 0, ratio = 0;
  WindowMode mode = WindowMode::Compat;
  uint64_t encoder_fingerprint = 0;
  int64_t token_count = 0;   // tokens of the source context (before any compat padding)
  uint64_t source_hash = 0;  // token_hash of the source ids
  // Aligned mode: ids of the last window when it is partial (< W tokens), so that an append can
  // re-encode it; `tail_slots` of the slots belong to it. Empty in compat mode.
  std::vector<int32_t> tail_ids;
  int64_t tail_slots = 0;

  int64_t slot_bytes() const { return levels * hidden * int64_t(dtype_size(dtype)); }
  int64_t slots() const { return levels ? int64_t(data.size()) / slot_bytes() : 0; }  // P
  // Appends n slots given as f32 [n, levels, hidden] (converted to dtype).
  void append_slots(const float* states, int64_t n);
  void drop_last_slots(int64_t n);
  // Slots [begin, begin + n) as f32 [n, levels, hidden].
  void slots_f32(int64_t begin, int64_t n, float* out) const;
  // The whole memory as a tensor view of `data` (valid while the memory lives and is not modified).
  Tensor as_tensor() const;
};

}  // namespace rcc
