// The RCC training forward and backward over a batch of samples (spec §2, §3, §6.2), in the same
// model code as inference:
//   encoder: every window of every sample is one sequence of one batched GPT-NeoX forward; slots
//            s_0 (embedding), s_i (after layer i−1, i < L), s_L (final layer norm) at the aligned
//            slot positions;
//   decoder: per sample, P memory rows x = E·s_0, then embed_in(tokens); after layer i the memory
//            rows receive A_i·s_{i+1}; final layer norm, LM head on the rows that predict a
//            weighted token; loss = Σ weight · cross-entropy.
// Backward runs the same path in reverse; the gradients of the slots flow into the encoder.
#pragma once
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tasks/sample.h"
#include "train/trainable_rcc.h"

namespace rcc {

struct StepStats {
  double loss_sum = 0;              // Σ weight · CE (nats)
  double target_weight = 0;         // Σ weight
  std::vector<double> sample_loss;  // Σ weight · CE of each sample of the batch (sums to loss_sum)
  int64_t encoder_tokens = 0, decoder_rows = 0;
  // Model FLOPs of the pass: matrix products (2 per multiply-add) and causal attention of both
  // networks, the projections and the LM head; ×3 with the backward (as the usual 6N rule counts;
  // the attention backward's recomputation of the scores is not counted). Products that are not
  // run are not counted: the encoder's last-layer dense projection and MLP off the slot rows.
  double flops = 0;
};

// Wall time per phase of training steps (the backend synchronised at each boundary, so device
// work is attributed to the phase that enqueued it). Enabled in `rcc train` by RCC_TRAIN_PROFILE=1.
struct StepProfile {
  std::vector<std::pair<std::string, double>> seconds;  // in first-seen order
  void add(const std::string& phase, double s);
  std::string table() const;  // one line per phase: seconds and share
};

struct StepOptions {
  bool backward = true;     // false: loss only (evaluation)
  float loss_scale = 1.0f;  // gradients are those of loss_scale · loss_sum (e.g. 1 / Σ weights)
  // Tests: when set, receives the logits of every decoder row of every sample, [Σ (P+T), V].
  std::vector<float>* all_logits = nullptr;
  StepProfile* profile = nullptr;  // when set, phases are timed (slower: synchronises)
};

// Adds the gradients of loss_scale · loss_sum into model.grads() (call zero_grad() first).
StepStats rcc_forward_backward(TrainableRCC& model, std::span<const Sample> batch,
                               const StepOptions& opt);

}  // namespace rcc
