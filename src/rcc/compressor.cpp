#include "rcc/compressor.h"

#include <algorithm>
#include <cstring>

#include "core/hash.h"

namespace rcc {

Compressor::Compressor(const RCCModel& model)
    : model_(model), batch_(model.encoder.backend().is_host() ? 1 : kDeviceBatchWindows) {}

void Compressor::set_batch_windows(int64_t n) {
  RCC_CHECK(n >= 1 && n <= 1024, "encoder batch of ", n, " windows (1..1024)");
  batch_ = n;
}

void Compressor::encode_window_to(const Window& w, void* out) {
  encode_windows_to(&w, 1, out);
}

void Compressor::encode_windows_to(const Window* ws, int64_t count, void* out) {
  const GPTNeoX& enc = model_.encoder;
  Backend& be = enc.backend();
  const int64_t H = enc.config().hidden_size, L = enc.config().num_layers;
  // The windows are independent sequences of one batched forward (rows stacked, attention per
  // window); slot rows of window i sit at its row offset + its slot positions, and its slots follow
  // those of window i-1 in `out` [S_total, L+1, H] (slot j, level k at (j·(L+1) + k)·H).
  std::vector<int32_t> ids;
  std::vector<int64_t> rows_of_slots;
  std::vector<std::pair<int64_t, int64_t>> spans;  // (row begin, rows) per window
  for (int64_t i = 0; i < count; ++i) {
    const Window& w = ws[i];
    const int64_t T = int64_t(w.ids.size());
    RCC_CHECK(T > 0 && T <= model_.settings.window, "encoder window of ", T,
              " tokens (W = ", model_.settings.window, ")");
    spans.emplace_back(int64_t(ids.size()), T);
    for (int64_t p : w.slot_positions) rows_of_slots.push_back(int64_t(ids.size()) + p);
    ids.insert(ids.end(), w.ids.begin(), w.ids.end());
  }
  const int64_t rows = int64_t(ids.size()), S = int64_t(rows_of_slots.size());
  auto record = [&](int64_t level, const void* x) {
    be.gather_rows(x, H, rows_of_slots.data(), S, H, act_at(be, out, level * H), (L + 1) * H);
  };
  // One layer-shared scratch cache per window: its keys/values are not needed after the pass.
  while (int64_t(scratch_.size()) < count)
    scratch_.emplace_back(be, L, enc.config().num_heads, enc.config().head_dim(),
                          /*share_layers=*/true);
  std::vector<SeqSlice> seqs;
  for (int64_t i = 0; i < count; ++i) {
    scratch_[size_t(i)].truncate(0);
    seqs.push_back({spans[size_t(i)].first, spans[size_t(i)].second, &scratch_[size_t(i)]});
  }
  x_.ensure(be, be.act_bytes(rows * H));
  enc.embed(ids.data(), rows, x_.get());
  record(0, x_.get());  // s_0: embeddings
  ForwardHooks hooks;
  hooks.after_layer = [&](int64_t layer, void* h, int64_t) {
    if (layer < L - 1) record(layer + 1, h);  // s_i = output of layer i-1, i < L
  };
  // s_L = final_layer_norm(output of the last layer), needed at the slot rows only: the last
  // layer's dense projection and MLP run on those S rows (forward_rows).
  top_.ensure(be, be.act_bytes(S * H));
  enc.forward_rows(x_.get(), rows, seqs, &hooks, rows_of_slots, top_.get());
  std::vector<int64_t> in_order(static_cast<size_t>(S));
  for (int64_t j = 0; j < S; ++j) in_order[size_t(j)] = j;
  be.gather_rows(top_.get(), H, in_order.data(), S, H, act_at(be, out, L * H), (L + 1) * H);
  for (int64_t i = 0; i < count; ++i) scratch_[size_t(i)].truncate(0);
}

std::vector<float> Compressor::encode_window(const Window& w) {
  Backend& be = model_.encoder.backend();
  const int64_t H = model_.encoder.config().hidden_size, L = model_.encoder.config().num_layers;
  const int64_t n = int64_t(w.slot_positions.size()) * (L + 1) * H;
  std::vector<float> out(static_cast<size_t>(n));
  if (be.is_host()) {
    encode_window_to(w, out.data());
  } else {
    slots_.ensure(be, be.act_bytes(n));
    encode_window_to(w, slots_.get());
    be.download_f32(slots_.get(), n, out.data());
  }
  return out;
}

int64_t Compressor::slot_count(const std::vector<int32_t>& ids, int64_t W, int64_t R,
                               WindowMode mode) {
  int64_t n = 0;
  for (const Window& w : make_windows(ids, W, R, mode)) n += int64_t(w.slot_positions.size());
  return n;
}

int64_t Compressor::stream(const std::vector<int32_t>& ids, WindowMode mode,
                           const DeviceWindowCallback& on_window) {
  const RCCSettings& s = model_.settings;
  Backend& be = model_.encoder.backend();
  const int64_t H = model_.encoder.config().hidden_size, L = model_.encoder.config().num_layers;
  std::vector<Window> windows = make_windows(ids, s.window, s.ratio, mode);
  const int64_t count = int64_t(windows.size());
  int64_t total = 0;
  for (int64_t b = 0; b < count; b += batch_) {  // batch_ windows per encoder pass
    const int64_t nb = std::min(batch_, count - b);
    int64_t n = 0;
    for (int64_t i = b; i < b + nb; ++i) n += int64_t(windows[size_t(i)].slot_positions.size());
    slots_.ensure(be, be.act_bytes(std::max<int64_t>(n, 1) * (L + 1) * H));
    encode_windows_to(windows.data() + b, nb, slots_.get());
    if (be.is_host() && s.memory_dtype == DType::BF16) {  // as a stored bf16 memory would read
      float* x = static_cast<float*>(slots_.get());
      for (int64_t i = 0, e = n * (L + 1) * H; i < e; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
    }
    // Hand the slots over window by window (they are consecutive in slots_).
    int64_t off = 0;
    for (int64_t i = b; i < b + nb; ++i) {
      const int64_t k = int64_t(windows[size_t(i)].slot_positions.size());
      on_window(i, count, act_at(be, slots_.get(), off * (L + 1) * H), k);
      off += k;
    }
    total += n;
  }
  return total;
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
            mode_name(m.mode),
            ": its windows are padded from the front, so new text changes them all)");
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
