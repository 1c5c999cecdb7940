// Sizes computed from the fields of a file header (shapes, counts, offsets): every product and sum
// checked, so that a hostile header cannot wrap a size around 2^64 and pass a check against the
// file's actual size. Every reader of a binary format (safetensors, rcc containers: .rccm, .rcckv,
// .rcctok, training state) computes header-derived sizes with these, and compares the result with
// the bytes the file holds before anything proportional to a header field is allocated.
//
// `what` names the file and the field ("x.rcckv: decoder cache field 'positions'"); it is the
// start of the rcc::Error thrown when an operand is negative or the result exceeds INT64_MAX.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace rcc {

// a × b for non-negative a, b.
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  RCC_CHECK(a >= 0 && b >= 0, what, " is negative (", a, " x ", b, ")");
  RCC_CHECK(!__builtin_mul_overflow(a, b, &r), what, " is too large (", a, " x ", b,
            " overflows 64 bits)");
  return r;
}

// a + b for non-negative a, b.
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  RCC_CHECK(a >= 0 && b >= 0, what, " is negative (", a, " + ", b, ")");
  RCC_CHECK(!__builtin_add_overflow(a, b, &r), what, " is too large (", a, " + ", b,
            " overflows 64 bits)");
  return r;
}

// The product of all `factors` (non-negative), checked at each step.
template <class... Ints>
int64_t checked_product(std::string_view what, int64_t first, Ints... rest) {
  int64_t r = checked_mul(first, 1, what);
  ((r = checked_mul(r, int64_t(rest), what)), ...);
  return r;
}

}  // namespace rcc
