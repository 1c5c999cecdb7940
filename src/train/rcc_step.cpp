#include "train/rcc_step.h"

#include <cstring>

#include "ops/cross_entropy.h"
#include "ops/linear.h"
#include "rcc/windows.h"

namespace rcc {

namespace {

// Rows of a [*, H] matrix, by index: dst[i] = src[idx[i]] (gather) or dst[idx[i]] += src[i].
void gather_rows(const float* src, const std::vector<int64_t>& idx, int64_t H, float* dst) {
  for (size_t i = 0; i < idx.size(); ++i)
    std::memcpy(dst + int64_t(i) * H, src + idx[i] * H, size_t(H) * 4);
}
void scatter_add_rows(const float* src, const std::vector<int64_t>& idx, int64_t H, float* dst) {
  for (size_t i = 0; i < idx.size(); ++i) {
    float* d = dst + idx[i] * H;
    const float* s = src + int64_t(i) * H;
    for (int64_t c = 0; c < H; ++c) d[c] += s[c];
  }
}

}  // namespace

StepStats rcc_forward_backward(TrainableRCC& tm, std::span<const Sample> batch,
                               const StepOptions& opt) {
  const RCCModel& m = tm.model();
  const RCCGrads& g = tm.grads();
  const GPTNeoXConfig& cfg = m.decoder.config();
  const int64_t H = cfg.hidden_size, L = cfg.num_layers, V = cfg.vocab_size;
  const int64_t W = m.settings.window, R = m.settings.ratio;
  const size_t B = batch.size();
  StepStats st;

  // ---- layout: encoder windows (one sequence each) and decoder sequences (one per sample) ----
  std::vector<int32_t> enc_ids;
  std::vector<std::pair<int64_t, int64_t>> enc_seqs, dec_seqs;
  std::vector<int64_t> slot_rows;  // encoder row of every slot (all samples, in order)
  std::vector<int64_t> mem_rows;   // decoder row of every slot
  std::vector<int64_t> mem_count(B), dec_begin(B);
  int64_t dec_rows = 0;
  for (size_t b = 0; b < B; ++b) {
    const Sample& s = batch[b];
    RCC_CHECK(!s.tokens.empty(), "training sample ", b, " has no decoder tokens");
    RCC_CHECK(s.weights.size() == s.tokens.size(), "training sample ", b, ": ", s.weights.size(),
              " weights for ", s.tokens.size(), " tokens");
    const int64_t first_slot = int64_t(slot_rows.size());
    if (!s.context.empty())
      for (const Window& w : make_windows(s.context, W, R, WindowMode::Aligned)) {
        const int64_t begin = int64_t(enc_ids.size());
        enc_seqs.emplace_back(begin, int64_t(w.ids.size()));
        for (int64_t p : w.slot_positions) slot_rows.push_back(begin + p);
        enc_ids.insert(enc_ids.end(), w.ids.begin(), w.ids.end());
      }
    mem_count[b] = int64_t(slot_rows.size()) - first_slot;
    dec_begin[b] = dec_rows;
    for (int64_t p = 0; p < mem_count[b]; ++p) mem_rows.push_back(dec_rows + p);
    dec_seqs.emplace_back(dec_rows, mem_count[b] + int64_t(s.tokens.size()));
    dec_rows += dec_seqs.back().second;
  }
  const int64_t P = int64_t(slot_rows.size()), N_enc = int64_t(enc_ids.size());
  st.encoder_tokens = N_enc;
  st.decoder_rows = dec_rows;

  // ---- encoder: slots, level-major: level k of all slots is [P, H] at slots + k·P·H ----
  std::vector<float> slots(static_cast<size_t>((L + 1) * P * H));
  auto level = [&](std::vector<float>& v, int64_t k) { return v.data() + k * P * H; };
  std::vector<float> x_enc(static_cast<size_t>(N_enc * H));
  Activations enc_acts;
  if (P > 0) {
    m.encoder.embed(enc_ids.data(), N_enc, x_enc.data());
    gather_rows(x_enc.data(), slot_rows, H, level(slots, 0));  // s_0: embeddings
    ForwardHooks hooks;
    hooks.after_layer = [&](int64_t i, void* xv, int64_t) {
      const float* x = static_cast<const float*>(xv);
      if (i < L - 1) gather_rows(x, slot_rows, H, level(slots, i + 1));  // s_{i+1}
    };
    m.encoder.forward_train(x_enc.data(), enc_seqs, &hooks, enc_acts);
    gather_rows(x_enc.data(), slot_rows, H, level(slots, L));  // s_L: final layer norm
  }

  // ---- decoder: memory rows E·s_0 (+ A_i·s_{i+1} after layer i), then the tokens ----
  std::vector<float> x_dec(static_cast<size_t>(dec_rows * H)), tmp(static_cast<size_t>(P * H));
  if (P > 0) {
    ops::linear(level(slots, 0), P, m.embed_proj, nullptr, tmp.data());
    for (int64_t p = 0; p < P; ++p)
      std::memcpy(x_dec.data() + mem_rows[size_t(p)] * H, tmp.data() + p * H, size_t(H) * 4);
  }
  for (size_t b = 0; b < B; ++b)
    m.decoder.embed(batch[b].tokens.data(), int64_t(batch[b].tokens.size()),
                    x_dec.data() + (dec_begin[b] + mem_count[b]) * H);
  ForwardHooks dec_hooks;
  dec_hooks.after_layer = [&](int64_t i, void* xv, int64_t) {
    float* x = static_cast<float*>(xv);
    if (P == 0) return;
    ops::linear(level(slots, i + 1), P, m.layer_proj[size_t(i)], nullptr, tmp.data());
    scatter_add_rows(tmp.data(), mem_rows, H, x);
  };
  Activations dec_acts;
  m.decoder.forward_train(x_dec.data(), dec_seqs, &dec_hooks, dec_acts);
  if (opt.all_logits) {
    opt.all_logits->resize(size_t(dec_rows * V));
    m.decoder.logits(x_dec.data(), dec_rows, opt.all_logits->data());
  }

  // ---- loss on the rows that predict weighted tokens ----
  std::vector<int64_t> tgt_rows;
  std::vector<int32_t> tgt_ids;
  std::vector<float> tgt_w;
  for (size_t b = 0; b < B; ++b) {
    const Sample& s = batch[b];
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      if (s.weights[t] == 0.0f) continue;
      RCC_CHECK(s.weights[t] > 0.0f, "training sample ", b, ": negative loss weight");
      RCC_CHECK(t > 0 || mem_count[b] > 0, "training sample ", b,
                ": token 0 has a loss weight but no memory row precedes it");
      tgt_rows.push_back(dec_begin[b] + mem_count[b] + int64_t(t) - 1);
      tgt_ids.push_back(s.tokens[t]);
      tgt_w.push_back(s.weights[t]);
      st.target_weight += double(s.weights[t]);
    }
  }
  const int64_t NT = int64_t(tgt_rows.size());
  {
    const double I = double(cfg.intermediate_size), h = double(H), l = double(L);
    auto net = [&](int64_t rows, const std::vector<std::pair<int64_t, int64_t>>& seqs) {
      double f = 2.0 * double(rows) * (4 * h * h + 2 * h * I) * l;
      for (const auto& sq : seqs) f += 2.0 * double(sq.second) * double(sq.second) * h * l;
      return f;
    };
    const double fwd = net(N_enc, enc_seqs) + net(dec_rows, dec_seqs) +
                       2.0 * double(NT) * h * double(V) + 2.0 * double(P) * h * h * (l + 1);
    st.flops = opt.backward ? 3 * fwd : fwd;
  }
  std::vector<float> h_t(static_cast<size_t>(NT * H)), logits(static_cast<size_t>(NT * V));
  gather_rows(x_dec.data(), tgt_rows, H, h_t.data());
  m.decoder.logits(h_t.data(), NT, logits.data());
  std::vector<float> dlogits(opt.backward ? logits.size() : 0);
  st.loss_sum = ops::cross_entropy(logits.data(), NT, V, tgt_ids.data(), tgt_w.data(),
                                   opt.backward ? dlogits.data() : nullptr, opt.loss_scale);
  if (!opt.backward) return st;

  // ---- backward: LM head, decoder (with the injection's gradients), E, embeddings ----
  std::vector<float> dh(static_cast<size_t>(NT * H), 0.0f), dx_dec(x_dec.size(), 0.0f);
  m.decoder.logits_backward(h_t.data(), NT, dlogits.data(), dh.data(), g.decoder);
  scatter_add_rows(dh.data(), tgt_rows, H, dx_dec.data());
  std::vector<float> dslots(slots.size(), 0.0f), dmem(static_cast<size_t>(P * H));
  BackwardHooks dec_bhooks;
  dec_bhooks.after_layer = [&](int64_t i, float* dx, int64_t) {
    if (P == 0) return;
    // x[mem] += s_{i+1} · A_i^T:  dA_i += dx_mem^T · s_{i+1},  ds_{i+1} += dx_mem · A_i.
    gather_rows(dx, mem_rows, H, dmem.data());
    ops::linear_backward(level(slots, i + 1), P, m.layer_proj[size_t(i)], dmem.data(),
                         level(dslots, i + 1), g.layer_proj[size_t(i)].f32(), nullptr);
  };
  m.decoder.backward(dec_acts, dx_dec.data(), g.decoder, &dec_bhooks);
  for (size_t b = 0; b < B; ++b)
    m.decoder.embed_backward(batch[b].tokens.data(), int64_t(batch[b].tokens.size()),
                             dx_dec.data() + (dec_begin[b] + mem_count[b]) * H, g.decoder);
  if (P == 0) return st;
  gather_rows(dx_dec.data(), mem_rows, H, dmem.data());
  ops::linear_backward(level(slots, 0), P, m.embed_proj, dmem.data(), level(dslots, 0),
                       g.embed_proj.f32(), nullptr);

  // ---- encoder: slot gradients enter at the rows they were taken from ----
  std::vector<float> dx_enc(x_enc.size(), 0.0f);
  scatter_add_rows(level(dslots, L), slot_rows, H, dx_enc.data());
  BackwardHooks enc_bhooks;
  enc_bhooks.after_layer = [&](int64_t i, float* dx, int64_t) {
    if (i < L - 1) scatter_add_rows(level(dslots, i + 1), slot_rows, H, dx);
  };
  m.encoder.backward(enc_acts, dx_enc.data(), g.encoder, &enc_bhooks);
  scatter_add_rows(level(dslots, 0), slot_rows, H, dx_enc.data());
  m.encoder.embed_backward(enc_ids.data(), N_enc, dx_enc.data(), g.encoder);
  return st;
}

}  // namespace rcc
