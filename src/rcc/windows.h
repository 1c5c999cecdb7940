// Window alignment of a context (spec §2.3, §2.4): which token ids each encoder window reads and
// at which positions inside the window its slots are taken.
#pragma once
#include <cstdint>
#include <vector>

#include "rcc/settings.h"

namespace rcc {

struct Window {
  std::vector<int32_t> ids;             // at most W tokens
  std::vector<int64_t> slot_positions;  // positions inside the window whose states are kept
};

// compat: the context is padded at the front (n > W: with its last W - n mod W tokens, a whole copy
// of the last window when W divides n; n <= W: tiled to fill W) so every window is full.
// aligned: windows start at token 0; a partial last window of m tokens keeps the slots j·R + R − 1
// < m plus one at m − 1 when R does not divide m.
std::vector<Window> make_windows(const std::vector<int32_t>& ids, int64_t W, int64_t R,
                                 WindowMode mode);

// The padded id sequence of compat mode (every window full); exposed for tests.
std::vector<int32_t> compat_padded(const std::vector<int32_t>& ids, int64_t W);

// Slot positions of one aligned window of m tokens.
std::vector<int64_t> aligned_slot_positions(int64_t m, int64_t R);

}  // namespace rcc
