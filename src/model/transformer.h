// The transformer forward pass (spec §1, §1.6): GPT-NeoX and the Llama family (RMSNorm, SwiGLU,
// grouped-query attention, q/k norms, sliding windows) in one definition, chosen by the config.
//
// A call processes a *batch* of independent sequences at once: their new rows are stacked into one
// [rows, H] matrix, so every matrix product runs once for the whole batch; only attention is done
// per sequence (each against its own cache). A prompt is prefilled in one call; decoding then feeds
// one row per sequence per call.
//
// Hooks let the RCC encoder record per-layer states and the RCC decoder inject memory (§2, §3)
// without a second copy of this code.
//
// The same code runs on every backend (backend/backend.h): hidden-state buffers ("x") and their
// gradients are device activation buffers of the model's backend (host f32 on the CPU, bf16 on
// CUDA); weight gradients are f32 on the backend. Training and inference share layer().
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/kv_cache.h"
#include "model/activations.h"
#include "model/config.h"
#include "model/weights.h"

namespace rcc {

struct ForwardHooks {
  // Called after layer `layer` with the batch hidden states x [rows, H] (a device activation buffer
  // of the model's backend; host float* on the CPU). It may modify them.
  std::function<void(int64_t layer, void* x, int64_t rows)> after_layer;
};

// The backward counterpart of ForwardHooks::after_layer (training): called, going down, with dx
// [rows, H] = the gradient of the loss with respect to the hidden states *after* the forward hook
// of layer `layer`, before the backward pass of that layer. It may read dx (the decoder's
// injection: gradients of A_i and of the slots) or add to it (the encoder: gradients arriving
// through slots).
struct BackwardHooks {
  std::function<void(int64_t layer, void* dx, int64_t rows)> after_layer;
};

class Transformer {
 public:
  // `w`: the host weights (e.g. mapped from a checkpoint); the backend prepares its own copy
  // (the CPU uses them as they are, CUDA uploads them in bf16).
  // `fp8_linear`: the layers' linear matrices (qkv, dense, MLP) prepared for FP8 products
  // (Backend::prepare_weight_fp8, spec §2.8; inference only); embeddings and norms unchanged.
  Transformer(ModelConfig cfg, ModelWeights w, Backend& be = cpu_backend(),
              bool fp8_linear = false);
  // With weights already prepared for `be` (training: views into the trainer's device buffers).
  Transformer(ModelConfig cfg, ModelWeights host, ModelWeights prepared, Backend& be);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }  // host weights
  Backend& backend() const { return *be_; }
  bool fp8_linear() const { return fp8_linear_; }
  // A cache on the model's backend; `eight_bit` (CUDA) keeps keys/values in int8.
  KVCache new_cache(bool eight_bit = false) const {
    return KVCache(*be_, cfg_.num_layers, cfg_.kv_heads(), cfg_.head_dim(), false, eight_bit);
  }

  // out[n, H] (device) = embed_in rows of ids (host; each checked against the vocabulary).
  void embed(const int32_t* ids, int64_t n, void* out) const;
  // x [rows, H]: input hidden states in, final-layer-norm output out. Appends every sequence's new
  // keys/values to its cache.
  void forward(void* x, int64_t rows, std::span<const SeqSlice> seqs,
               const ForwardHooks* hooks = nullptr) const;
  // forward() whose output is needed only at rows `keep` (the RCC encoder's slots, §2): out [n, H]
  // (device, n = keep.size()) = final-layer-norm output at those rows, in that order. The last
  // layer's dense projection and MLP run on the kept rows only (its attention on all rows); x is
  // left holding the input of the last layer. The hook of the last layer sees out [n, H].
  void forward_rows(void* x, int64_t rows, std::span<const SeqSlice> seqs,
                    const ForwardHooks* hooks, std::span<const int64_t> keep, void* out) const;
  // logits[rows, V] (host f32) = h[rows, H] (device) · embed_out^T
  void logits(const void* h, int64_t rows, float* out) const;

  // ---- training (transformer_backward.cpp) ----
  // The forward of several independent sequences from position 0 (rows [begin, begin + count)
  // each), without KV caches, recording into `acts` what the backward needs.
  void forward_train(void* x, std::span<const std::pair<int64_t, int64_t>> seqs,
                     const ForwardHooks* hooks, Activations& acts) const;
  // forward_train() whose output is needed only at rows `keep` (distinct; the RCC encoder's
  // slots), as forward_rows() does for inference: out [n, H] = final-layer-norm output at those
  // rows; the last layer's dense projection and MLP run on them alone. x is left holding the
  // last layer's input; its hook sees out [n, H].
  void forward_train_rows(void* x, std::span<const std::pair<int64_t, int64_t>> seqs,
                          const ForwardHooks* hooks, std::span<const int64_t> keep,
                          Activations& acts, void* out) const;
  // dx [rows, H]: in, the gradient w.r.t. the forward's output (final-layer-norm output); out, the
  // gradient w.r.t. its input x. Parameter gradients are accumulated (+=) into `grads` (f32
  // tensors on the backend, shaped like the weights; undefined ones are skipped).
  void backward(const Activations& acts, void* dx, const ModelWeights& grads,
                const BackwardHooks* hooks = nullptr) const;
  // The backward of forward_train_rows(): dout [n, H] (read only) = the gradient w.r.t. out;
  // dx [rows, H] receives the gradient w.r.t. the forward's input x. The last layer's hook sees
  // its n kept rows.
  void backward_rows(const Activations& acts, const void* dout, void* dx, const ModelWeights& grads,
                     const BackwardHooks* hooks = nullptr) const;
  // logits [rows, V] (f32 on the backend) = h · embed_out^T.
  void logits_device(const void* h, int64_t rows, float* out) const;
  // grads.embed_out += dlogits^T · h;  dh [rows, H] += dlogits · embed_out (dh may be null).
  void logits_backward(const void* h, int64_t rows, const void* dlogits, void* dh,
                       const ModelWeights& grads) const;
  // grads.embed_in rows ids[i] += dx[i].
  void embed_backward(const int32_t* ids, int64_t n, const void* dx,
                      const ModelWeights& grads) const;

  // Convenience: one sequence of ids through embed + forward + logits of every row ([n, V]).
  std::vector<float> forward_logits(const std::vector<int32_t>& ids, KVCache& cache) const;

 private:
  // A layer's activation buffers (device, rows × the stated width; Q, QKV, M of config.h).
  struct LayerBuffers {
    void* ln = nullptr;    // ln1 output [H]
    void* qkv = nullptr;   // fused projection [QKV]
    void* q = nullptr;     // rotated queries [Q] (inference)
    void* attn = nullptr;  // attention output [Q]
    void* ln2 = nullptr;   // ln2 output [H]
    void* mlp = nullptr;   // fc_in output [M]
    void* act = nullptr;   // activation output [I] (GELU: == mlp unless recording)
    bool normed = false;   // ln and ln2 already hold both norms of x (layer_norm_pair)
  };
  void check_seqs(int64_t rows, std::span<const SeqSlice> seqs) const;
  // y = the model's norm (LayerNorm with bias, or RMSNorm) of x [rows, H].
  void norm(const void* x, int64_t rows, const Tensor& w, const Tensor& b, void* y) const;
  // Throws unless the config's head geometry fits its family (GPT-NeoX: one kv head per head).
  void check_config() const;
  // Activation elements per row of layer()'s workspace.
  int64_t work_per_row() const;
  // The backward of norm(): dx += ..., dw (and db for LayerNorm) += (f32; undefined skips).
  void norm_backward(const void* x, int64_t rows, const Tensor& w, const void* dy, void* dx,
                     const Tensor& dw, const Tensor& db) const;
  void attention_part(int64_t i, const void* x, int64_t rows, std::span<const SeqSlice> seqs,
                      const LayerBuffers& b, const Activations* acts) const;
  void output_part(int64_t i, void* x, int64_t rows, const LayerBuffers& b,
                   const LayerActivations* a) const;
  // One layer; with `acts` (training) attention runs per recorded sequence without caches and
  // the layer's activations are recorded.
  void layer(int64_t i, void* x, int64_t rows, std::span<const SeqSlice> seqs, void* work,
             const Activations* acts) const;
  void layer_backward(int64_t i, const Activations& acts, void* dx, const LayerWeights& grads,
                      void* work) const;
  // The parts of layer_backward. output_part_backward: dx [rows, H], the layer output's gradient
  // -> d_attn (the attention output's gradient, written). When d_ln2 is null, ln2's backward is
  // added to dx, which leaves as the gradient w.r.t. ln2's input plus the residual's: the layer
  // input's without ln1 (parallel residual) or x_mid's (serial). Otherwise ln2's output gradient
  // is written to d_ln2 and dx is left alone (layer_norm_pair_backward takes it from there).
  // x_ln2 is ln2's input, attn the dense projection's input, a the MLP's recorded activations,
  // all at those rows. Workspace per row: d_act [I] (| d_pre [M] for SwiGLU) | d_ln [H].
  void output_part_backward(int64_t i, int64_t rows, const void* x_ln2, const void* attn,
                            const LayerActivations& a, void* dx, void* d_attn, void* d_ln2,
                            const LayerWeights& grads, void* work) const;
  // attention_part_backward: d_attn [all rows, Q] -> ln1's output gradient, written to the first
  // [rows, H] of `work` (ln1's own backward is the caller's). Workspace per row: H + QKV.
  void attention_part_backward(int64_t i, const Activations& acts, const void* d_attn,
                               const LayerWeights& grads, void* work) const;

  ModelConfig cfg_;
  ModelWeights w_;  // host
  Backend* be_;
  ModelWeights dw_;  // as the backend computes with them (== w_ on the CPU)
  Rope rope_;        // the rotary frequencies of cfg_
  bool fp8_linear_ = false;
};

}  // namespace rcc
