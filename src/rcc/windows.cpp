#include "rcc/windows.h"

#include "core/error.h"

namespace rcc {

std::vector<int32_t> compat_padded(const std::vector<int32_t>& ids, int64_t W) {
  const int64_t n = int64_t(ids.size());
  RCC_CHECK(n > 0, "cannot compress an empty context");
  std::vector<int32_t> out;
  if (n > W) {
    const int64_t pad = W - n % W;  // == W when W divides n: a whole copy of the last window
    out.reserve(size_t(n + pad));
    out.insert(out.end(), ids.end() - pad, ids.end());
    out.insert(out.end(), ids.begin(), ids.end());
  } else {
    // Tile: ⌊W/n⌋ copies, preceded by the last W mod n tokens of that tiling.
    std::vector<int32_t> tiled;
    tiled.reserve(size_t(W));
    for (int64_t r = 0; r < W / n; ++r) tiled.insert(tiled.end(), ids.begin(), ids.end());
    const int64_t rem = W % n;
    out.insert(out.end(), tiled.end() - rem, tiled.end());
    out.insert(out.end(), tiled.begin(), tiled.end());
  }
  return out;
}

std::vector<int64_t> aligned_slot_positions(int64_t m, int64_t R) {
  std::vector<int64_t> pos;
  for (int64_t p = R - 1; p < m; p += R) pos.push_back(p);
  if (m % R != 0) pos.push_back(m - 1);
  return pos;
}

std::vector<Window> make_windows(const std::vector<int32_t>& ids, int64_t W, int64_t R,
                                 WindowMode mode) {
  RCC_CHECK(!ids.empty(), "cannot compress an empty context");
  RCC_CHECK(W > 0 && R > 0 && W % R == 0, "window ", W, " must be a multiple of ratio ", R);
  const std::vector<int32_t>& src = mode == WindowMode::Compat ? compat_padded(ids, W) : ids;
  std::vector<Window> out;
  for (size_t start = 0; start < src.size(); start += size_t(W)) {
    Window w;
    size_t end = std::min(src.size(), start + size_t(W));
    w.ids.assign(src.begin() + int64_t(start), src.begin() + int64_t(end));
    w.slot_positions = aligned_slot_positions(int64_t(w.ids.size()), R);
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace rcc
