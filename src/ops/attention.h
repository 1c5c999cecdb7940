// Causal multi-head attention of new queries against a key/value cache.
#pragma once
#include <cstdint>

namespace rcc::ops {

// q:   new queries, row r of `rows` at absolute position past + r, head h at q + r·q_stride + h·hd.
// k,v: cached keys/values for positions [0, past + rows), row stride `kv_stride`, head h at h·hd.
// out: [rows, heads·hd]. Query at position p attends to keys 0..p (window > 0: p − window + 1 ..
// p); scale 1/sqrt(hd). Grouped-query attention: query head h reads key/value head h / group
// (kv head j at j·hd of a k/v row). Never materialises more than a block of queries × keys of
// scores per thread.
void causal_attention(const float* q, int64_t q_stride, const float* k, const float* v,
                      int64_t kv_stride, int64_t rows, int64_t past, int64_t heads, int64_t hd,
                      float* out, int64_t group = 1, int64_t window = 0);

// Sequence g of a group sharing a key/value prefix (positions [0, P), visible to every query):
// its `rows` queries are rows q_row.. of q (and of out), at positions past.. (past >= P); its own
// keys/values k, v hold positions P.. (row stride kv_stride), at least past + rows - P of them.
struct PrefixSeq {
  int64_t q_row = 0, rows = 0, past = 0;
  const float* k = nullptr;
  const float* v = nullptr;
};
// Causal attention of every sequence of the group against [the shared prefix kp, vp (P rows,
// stride kv_stride) | its own keys]. The prefix is read once per block of up to 64 query rows of
// the whole group (row-independent products, ops/rowwise_gemm.h), so a prefix that many decoding
// sequences share costs one pass, not one per sequence, and each row's result is the same bits
// whichever sequences share its block. q_stride = out_stride = heads·hd; group and window as for
// causal_attention (a window may exclude prefix keys).
void prefix_attention(const float* q, const float* kp, const float* vp, int64_t P,
                      int64_t kv_stride, const PrefixSeq* seqs, int64_t n_seqs, int64_t heads,
                      int64_t hd, float* out, int64_t group = 1, int64_t window = 0);

// Backward of causal attention over one whole sequence from position 0 (training).
// q, k, v, dout: [rows, heads·hd] (head h at h·hd). Accumulates (+=) dq, dk, dv [rows, heads·hd].
// Scores are recomputed per block of 64 queries as the forward computes them (at most 64 × rows
// scores per task); with P = softmax(S), dP = dout·V^T, D_i = Σ_j P_ij dP_ij:
//   dS = P ⊙ (dP − D),  dq = scale·dS·K,  dk = scale·dS^T·Q,  dv = P^T·dout.
// One task per head (the dk, dv rows of a head are shared by all its query blocks).
// (attention_backward_cpu.cpp)
void causal_attention_backward(const float* q, const float* k, const float* v, const float* dout,
                               int64_t rows, int64_t heads, int64_t hd, float* dq, float* dk,
                               float* dv);

}  // namespace rcc::ops
