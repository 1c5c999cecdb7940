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
  const Transformer& enc = model_.encoder;
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
    scratch_.emplace_back(be, L, enc.config().kv_heads(), enc.config().head_dim(),
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
  Memory m;
  std::vector<CompressJob> jobs(1);
  jobs[0].memory = &m;
  jobs[0].ids = ids;
  jobs[0].mode = mode;
  jobs[0].memory_dtype = memory_dtype;
  jobs[0].on_window = on_window;
  compress_many(jobs);
  return m;
}

int64_t Compressor::append(Memory& m, const std::vector<int32_t>& more,
                           const WindowCallback& on_window) {
  std::vector<CompressJob> jobs(1);
  jobs[0].memory = &m;
  jobs[0].ids = more;
  jobs[0].append = true;
  jobs[0].on_window = on_window;
  compress_many(jobs);
  return jobs[0].dropped;
}

void Compressor::compress_many(std::vector<CompressJob>& jobs) {
  const RCCSettings& s = model_.settings;
  Backend& be = model_.encoder.backend();
  const int64_t H = model_.encoder.config().hidden_size, L = model_.encoder.config().num_layers;
  // Every job's windows first (and its checks, before any work).
  std::vector<std::vector<Window>> windows(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    CompressJob& job = jobs[j];
    RCC_CHECK(job.memory != nullptr, "compress: a job without a memory");
    Memory& m = *job.memory;
    if (!job.append) {
      RCC_CHECK(!job.ids.empty(), "compress: nothing to compress");
      m = Memory{};
      m.dtype = job.memory_dtype;
      m.levels = L + 1;
      m.hidden = H;
      m.window = s.window;
      m.ratio = s.ratio;
      m.mode = job.mode;
      m.encoder_fingerprint = model_.encoder_fingerprint;
      m.token_count = int64_t(job.ids.size());
      m.source_hash = token_hash(job.ids);
      windows[j] = make_windows(job.ids, s.window, s.ratio, job.mode);
      continue;
    }
    RCC_CHECK(m.mode == WindowMode::Aligned, "append needs a memory in aligned mode (this one is ",
              mode_name(m.mode),
              ": its windows are padded from the front, so new text changes them all)");
    RCC_CHECK(m.encoder_fingerprint == model_.encoder_fingerprint,
              "append: the memory was made by another encoder");
    RCC_CHECK(m.window == s.window && m.ratio == s.ratio,
              "append: the memory's W/R differ from the model's");
    job.dropped = 0;
    if (job.ids.empty()) continue;
    // Re-encode from the start of the partial last window (if any).
    std::vector<int32_t> ids = m.tail_ids;
    ids.insert(ids.end(), job.ids.begin(), job.ids.end());
    job.dropped = m.tail_slots;
    m.drop_last_slots(job.dropped);
    windows[j] = make_windows(ids, m.window, m.ratio, WindowMode::Aligned);
  }
  // Passes of up to batch_ windows, one from each job with windows left, in turn.
  std::vector<size_t> next(jobs.size(), 0);
  std::vector<float> host;
  for (;;) {
    std::vector<std::pair<size_t, size_t>> pass;  // (job, window)
    std::vector<Window> ws;
    for (bool more = true; more && int64_t(pass.size()) < batch_;) {
      more = false;
      for (size_t j = 0; j < jobs.size() && int64_t(pass.size()) < batch_; ++j)
        if (next[j] < windows[j].size()) {
          pass.emplace_back(j, next[j]);
          ws.push_back(windows[j][next[j]++]);
          more = true;
        }
    }
    if (pass.empty()) break;
    int64_t n = 0;
    for (const Window& w : ws) n += int64_t(w.slot_positions.size());
    const int64_t per = (L + 1) * H;
    const float* slots;
    if (be.is_host()) {
      host.resize(size_t(std::max<int64_t>(n, 1) * per));
      encode_windows_to(ws.data(), int64_t(ws.size()), host.data());
    } else {
      slots_.ensure(be, be.act_bytes(std::max<int64_t>(n, 1) * per));
      encode_windows_to(ws.data(), int64_t(ws.size()), slots_.get());
      host.resize(size_t(std::max<int64_t>(n, 1) * per));
      be.download_f32(slots_.get(), n * per, host.data());
    }
    slots = host.data();
    for (size_t i = 0; i < pass.size(); ++i) {
      const auto [j, wi] = pass[i];
      const int64_t k = int64_t(ws[i].slot_positions.size());
      jobs[j].memory->append_slots(slots, k);
      if (jobs[j].on_window) jobs[j].on_window(int64_t(wi), int64_t(windows[j].size()), slots, k);
      slots += k * per;
    }
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    CompressJob& job = jobs[j];
    Memory& m = *job.memory;
    if (windows[j].empty()) continue;
    const Window& last = windows[j].back();
    if (!job.append) {
      if (job.mode == WindowMode::Aligned && int64_t(last.ids.size()) < s.window) {
        m.tail_ids = last.ids;
        m.tail_slots = int64_t(last.slot_positions.size());
      }
      continue;
    }
    const bool partial = int64_t(last.ids.size()) < m.window;
    m.tail_ids = partial ? last.ids : std::vector<int32_t>{};
    m.tail_slots = partial ? int64_t(last.slot_positions.size()) : 0;
    m.token_count += int64_t(job.ids.size());
    m.source_hash = token_hash_extend(m.source_hash, job.ids.data(), job.ids.size());
  }
}

}  // namespace rcc
