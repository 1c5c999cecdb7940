// Causal multi-head attention of new queries against a key/value cache.
#pragma once
#include <cstdint>

namespace rcc::ops {

// q:   new queries, row r of `rows` at absolute position past + r, head h at q + r·q_stride + h·hd.
// k,v: cached keys/values for positions [0, past + rows), row stride `kv_stride`, head h at h·hd.
// out: [rows, heads·hd]. Query at position p attends to keys 0..p; scale 1/sqrt(hd).
// Never materialises more than a block of queries × keys of scores per thread.
void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, int64_t rows, int64_t past, int64_t heads, int64_t hd,
                      float* out);

}  // namespace rcc::ops
