// Compression (spec §2): the encoder reads each window as a plain GPT-NeoX forward from
// position 0 and keeps, at the window's slot positions, the L+1 states s_0 (embeddings), s_i
// (output of layer i-1), s_L (final layer norm). Windows are independent and processed one at a
// time, so peak memory is weights + memory + one window's activations, whatever the context length.
#pragma once
#include <functional>
#include <vector>

#include "rcc/memory.h"
#include "rcc/rcc_model.h"
#include "rcc/windows.h"

namespace rcc {

// Called after each window with its index, the window count and its slots f32 [n, L+1, H].
using WindowCallback =
    std::function<void(int64_t index, int64_t count, const float* slots, int64_t n)>;
// The same with the slots still on the model's backend: a device activation buffer [n, L+1, H]
// valid during the call.
using DeviceWindowCallback =
    std::function<void(int64_t index, int64_t count, const void* slots_dev, int64_t n)>;

// One document of Compressor::compress_many: a new memory of `ids`, or (append) `ids` appended
// to the aligned memory `*memory` (spec §2.7: its partial last window re-encoded).
struct CompressJob {
  Memory* memory = nullptr;  // filled (new) or extended (append); owned by the caller
  std::vector<int32_t> ids;  // the text (new) or the ids to append
  WindowMode mode = WindowMode::Aligned;
  DType memory_dtype = DType::BF16;  // new memories: the slots' stored type
  bool append = false;
  WindowCallback on_window;  // after each of this job's windows (may be empty)
  int64_t dropped = 0;       // out (append): slots removed from the end before the new ones
};

class Compressor {
 public:
  explicit Compressor(const RCCModel& model);

  // Slots of one window: f32 [w.slot_positions.size(), L+1, H].
  std::vector<float> encode_window(const Window& w);
  // The same into a device activation buffer of the model's backend.
  void encode_window_to(const Window& w, void* slots_dev);
  // Several windows in one batched encoder pass; their slots one after the other in `slots_dev`.
  void encode_windows_to(const Window* ws, int64_t count, void* slots_dev);
  // Windows per encoder pass in stream() (default 1 on the CPU, 4 on devices: larger matrix
  // products; activations and scratch caches grow with it).
  void set_batch_windows(int64_t n);

  // Slots a context of `ids` yields (the memory's P).
  static int64_t slot_count(const std::vector<int32_t>& ids, int64_t W, int64_t R, WindowMode mode);
  // Streams the windows of `ids` to `on_window` without keeping a memory (e.g. straight into the
  // decoder's prefill); returns the number of slots produced. The slots are those a memory of the
  // model's memory dtype would hold (spec §3.3): on the host they are rounded to bf16 when that is
  // bf16 (device activations are bf16 already).
  int64_t stream(const std::vector<int32_t>& ids, WindowMode mode,
                 const DeviceWindowCallback& on_window);

  // A new memory of `ids` in `mode` (slots stored as the model's memory dtype unless overridden).
  Memory compress(const std::vector<int32_t>& ids, WindowMode mode,
                  const WindowCallback& on_window = nullptr);
  Memory compress(const std::vector<int32_t>& ids, WindowMode mode, DType memory_dtype,
                  const WindowCallback& on_window = nullptr);

  // Aligned mode only: extends `m` by `more` ids, re-encoding only its last partial window.
  // Returns the number of slots removed from the end before the new ones were appended.
  int64_t append(Memory& m, const std::vector<int32_t>& more,
                 const WindowCallback& on_window = nullptr);

  // Several documents at once: their windows go through the encoder together, up to
  // batch_windows per pass drawn from the documents in turn (each document's windows in order),
  // so short documents share passes. Each job's memory equals what compress()/append() give for
  // it alone (exactly on the CPU; on devices within the rounding of a different batch).
  void compress_many(std::vector<CompressJob>& jobs);

 private:
  const RCCModel& model_;
  static constexpr int64_t kDeviceBatchWindows = 4;
  int64_t batch_;
  std::vector<KVCache> scratch_;  // layer-shared caches, one per window of a batch
  DeviceBuffer x_, slots_;        // one window's hidden states and slots (reused)
  DeviceBuffer top_;              // the last layer's output at the slot rows (reused)
};

}  // namespace rcc
