#include "rcc/compressor.h"

#include <cstring>

#include "core/hash.h"

namespace rcc {

Compressor::Compressor(const RCCModel& model)
    : model_(model),
      scratch_(model.encoder.config().num_layers, model.encoder.config().num_heads,
               model.encoder.config().head_dim(), /*share_layers=*/true) {}

std::vector<float> Compressor::encode_window(const Window& w) {
  const GPTNeoX& enc = model_.encoder;
  const int64_t H = enc.config().hidden_size, L = enc.config().num_layers;
  const int64_t T = int64_t(w.ids.size()), S = int64_t(w.slot_positions.size());
  RCC_CHECK(T > 0 && T <= model_.settings.window, "encoder window of ", T, " tokens (W = ",
            model_.settings.window, ")");
  std::vector<float> out(static_cast<size_t>(S * (L + 1) * H));
  // Copies the rows at the slot positions of x [T, H] into level `level` of every slot.
  auto record = [&](int64_t level, const float* x) {
    for (int64_t j = 0; j < S; ++j)
      std::memcpy(out.data() + (j * (L + 1) + level) * H, x + w.slot_positions[size_t(j)] * H,
                  size_t(H) * 4);
  };
  std::vector<float> x(static_cast<size_t>(T * H));
  enc.embed(w.ids.data(), T, x.data());
  record(0, x.data());  // s_0: embeddings
  ForwardHooks hooks;
  hooks.after_layer = [&](int64_t layer, float* h, int64_t) {
    if (layer < L - 1) record(layer + 1, h);  // s_i = output of layer i-1, i < L
  };
  scratch_.truncate(0);
  SeqSlice s{0, T, &scratch_};
  enc.forward(x.data(), T, {&s, 1}, &hooks);
  record(L, x.data());  // s_L = final_layer_norm(output of the last layer)
  scratch_.truncate(0);
  return out;
}

Memory Compressor::compress(const std::vector<int32_t>& ids, WindowMode mode,
                            const WindowCallback& on_window) {
  return compress(ids, mode, model_.settings.memory_dtype, on_window);
}

Memory Compressor::compress(const std::vector<int32_t>& ids, WindowMode mode, DType memory_dtype,
                            const WindowCallback& on_window) {
  const RCCSettings& s = model_.settings;
  Memory m;
  m.dtype = memory_dtype;
  m.levels = model_.encoder.config().num_layers + 1;
  m.hidden = model_.encoder.config().hidden_size;
  m.window = s.window;
  m.ratio = s.ratio;
  m.mode = mode;
  m.encoder_fingerprint = model_.encoder_fingerprint;
  m.token_count = int64_t(ids.size());
  m.source_hash = token_hash(ids);
  std::vector<Window> windows = make_windows(ids, s.window, s.ratio, mode);
  for (size_t i = 0; i < windows.size(); ++i) {
    std::vector<float> slots = encode_window(windows[i]);
    const int64_t n = int64_t(windows[i].slot_positions.size());
    m.append_slots(slots.data(), n);
    if (on_window) on_window(int64_t(i), int64_t(windows.size()), slots.data(), n);
  }
  if (mode == WindowMode::Aligned && int64_t(windows.back().ids.size()) < s.window) {
    m.tail_ids = windows.back().ids;
    m.tail_slots = int64_t(windows.back().slot_positions.size());
  }
  return m;
}

int64_t Compressor::append(Memory& m, const std::vector<int32_t>& more,
                           const WindowCallback& on_window) {
  RCC_CHECK(m.mode == WindowMode::Aligned, "append needs a memory in aligned mode (this one is ",
            mode_name(m.mode), ": its windows are padded from the front, so new text changes them all)");
  RCC_CHECK(m.encoder_fingerprint == model_.encoder_fingerprint,
            "append: the memory was made by another encoder");
  RCC_CHECK(m.window == model_.settings.window && m.ratio == model_.settings.ratio,
            "append: the memory's W/R differ from the model's");
  if (more.empty()) return 0;
  // Re-encode from the start of the partial last window (if any).
  std::vector<int32_t> ids = m.tail_ids;
  ids.insert(ids.end(), more.begin(), more.end());
  const int64_t dropped = m.tail_slots;
  m.drop_last_slots(dropped);
  std::vector<Window> windows = make_windows(ids, m.window, m.ratio, WindowMode::Aligned);
  for (size_t i = 0; i < windows.size(); ++i) {
    std::vector<float> slots = encode_window(windows[i]);
    const int64_t n = int64_t(windows[i].slot_positions.size());
    m.append_slots(slots.data(), n);
    if (on_window) on_window(int64_t(i), int64_t(windows.size()), slots.data(), n);
  }
  const bool partial = int64_t(windows.back().ids.size()) < m.window;
  m.tail_ids = partial ? windows.back().ids : std::vector<int32_t>{};
  m.tail_slots = partial ? int64_t(windows.back().slot_positions.size()) : 0;
  m.token_count += int64_t(more.size());
  m.source_hash = token_hash_extend(m.source_hash, more.data(), more.size());
  return dropped;
}

}  // namespace rcc
