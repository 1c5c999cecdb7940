// The geometry of one attention layer and its rotary embedding (spec §1.3, §1.4, §1.6): how many
// query and key/value heads, where each lives in a row of the fused qkv product, which keys a query
// sees, and the rotary frequencies. Shared by the model, the backends and the ops.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace rcc {

struct AttentionShape {
  int64_t heads = 0;     // query heads
  int64_t kv_heads = 0;  // key/value heads; query head h reads kv head h / group()
  int64_t hd = 0;        // dims per head
  // The fused qkv row: GPT-NeoX's [heads, 3, hd] (head h's q, k, v side by side; kv_heads ==
  // heads), or blocked [q: heads·hd | k: kv_heads·hd | v: kv_heads·hd] (Llama family).
  bool interleaved = true;
  // > 0: a query at position p sees the keys at p - window + 1 .. p (Mistral's sliding window);
  // 0: every earlier key.
  int64_t window = 0;

  int64_t group() const { return heads / kv_heads; }
  int64_t q_width() const { return heads * hd; }
  int64_t kv_width() const { return kv_heads * hd; }
  int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
  // Offsets within a fused qkv row of query head h and of key/value head j.
  int64_t q_at(int64_t h) const { return interleaved ? h * 3 * hd : h * hd; }
  int64_t k_at(int64_t j) const { return interleaved ? j * 3 * hd + hd : q_width() + j * hd; }
  int64_t v_at(int64_t j) const {
    return interleaved ? j * 3 * hd + 2 * hd : q_width() + kv_width() + j * hd;
  }
  // The first key position a query at `pos` sees.
  int64_t first_visible(int64_t pos) const {
    return window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
  }
  // The layout GPT-NeoX kernels were written for: interleaved, one kv head per query head, no
  // window.
  bool plain() const { return interleaved && kv_heads == heads && window == 0; }
};

// Rotary position embedding, "rotate half" (spec §1.4): in each head the first `dims` entries
// rotate, pair (i, i + dims/2) by the angle float(pos) · inv_freq[i], all in f32 as Hugging Face
// computes it.
struct Rope {
  int64_t dims = 0;             // even; 0: no rotation
  double base = 1e4;            // theta
  bool scaled = false;          // inv_freq was rescaled (Llama 3 / linear), not base^(-2i/dims)
  std::vector<float> inv_freq;  // [dims / 2]
};

}  // namespace rcc
