#include "train/rcc_step.h"

#include <chrono>
#include <cstdio>
#include <cstring>

#include "rcc/windows.h"

namespace rcc {

void StepProfile::add(const std::string& phase, double s) {
  for (auto& [name, t] : seconds)
    if (name == phase) {
      t += s;
      return;
    }
  seconds.emplace_back(phase, s);
}

std::string StepProfile::table() const {
  double total = 0;
  for (const auto& p : seconds) total += p.second;
  std::string out;
  char line[160];
  for (const auto& [name, t] : seconds) {
    std::snprintf(line, sizeof line, "  %-16s %9.3f s %5.1f%%\n", name.c_str(), t,
                  total > 0 ? 100 * t / total : 0.0);
    out += line;
  }
  return out;
}

StepStats rcc_forward_backward(TrainableRCC& tm, std::span<const Sample> batch,
                               const StepOptions& opt) {
  const RCCModel& m = tm.model();
  const RCCGrads& g = tm.grads();
  Backend& be = tm.backend();
  auto last = std::chrono::steady_clock::now();
  auto phase = [&](const char* name) {
    if (!opt.profile) return;
    be.synchronize();
    const auto now = std::chrono::steady_clock::now();
    opt.profile->add(name, std::chrono::duration<double>(now - last).count());
    last = now;
  };
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

  // Rows of a [*, H] activation matrix by index: gather dst[i] = src[idx[i]], or
  // scatter-add dst[idx[i]] += src[i] (indices distinct).
  auto gather = [&](const void* src, const std::vector<int64_t>& idx, void* dst) {
    be.gather_rows(src, H, idx.data(), int64_t(idx.size()), H, dst, H);
  };
  auto scatter_add = [&](const void* src, const std::vector<int64_t>& idx, void* dst) {
    be.scatter_add_rows(src, idx.data(), int64_t(idx.size()), H, dst);
  };
  auto zeroed = [&](int64_t rows) {
    DeviceBuffer b(be, be.act_bytes(rows * H));
    be.zero(b.get(), b.bytes());
    return b;
  };

  phase("layout");
  // ---- encoder: slots, level-major: level k of all slots is [P, H] at slots + k·P·H ----
  DeviceBuffer slots(be, be.act_bytes((L + 1) * P * H));
  auto level = [&](const DeviceBuffer& v, int64_t k) { return act_at(be, v.get(), k * P * H); };
  DeviceBuffer x_enc(be, be.act_bytes(N_enc * H));
  Activations& enc_acts = tm.encoder_acts;
  if (P > 0) {
    m.encoder.embed(enc_ids.data(), N_enc, x_enc.get());
    gather(x_enc.get(), slot_rows, level(slots, 0));  // s_0: embeddings
    ForwardHooks hooks;
    hooks.after_layer = [&](int64_t i, void* x, int64_t) {
      if (i < L - 1) gather(x, slot_rows, level(slots, i + 1));  // s_{i+1}
    };
    // s_L: the final layer norm at the slot rows; the last layer's dense projection and MLP run
    // on the slot rows only (spec §2.1 needs s_L nowhere else).
    m.encoder.forward_train_rows(x_enc.get(), enc_seqs, &hooks, slot_rows, enc_acts,
                                 level(slots, L));
  }

  // ---- decoder: memory rows E·s_0 (+ A_i·s_{i+1} after layer i), then the tokens ----
  phase("encoder forward");
  // Memory rows are zero before E·s_0 is added: the scatter-add then equals a copy.
  DeviceBuffer x_dec = zeroed(dec_rows), tmp(be, be.act_bytes(P * H));
  if (P > 0) {
    be.linear(level(slots, 0), P, m.embed_proj_dev, nullptr, tmp.get(), false);
    scatter_add(tmp.get(), mem_rows, x_dec.get());
  }
  for (size_t b = 0; b < B; ++b)
    m.decoder.embed(batch[b].tokens.data(), int64_t(batch[b].tokens.size()),
                    act_at(be, x_dec.get(), (dec_begin[b] + mem_count[b]) * H));
  ForwardHooks dec_hooks;
  dec_hooks.after_layer = [&](int64_t i, void* x, int64_t) {
    if (P == 0) return;
    be.linear(level(slots, i + 1), P, m.layer_proj_dev[size_t(i)], nullptr, tmp.get(), false);
    scatter_add(tmp.get(), mem_rows, x);
  };
  Activations& dec_acts = tm.decoder_acts;
  m.decoder.forward_train(x_dec.get(), dec_seqs, &dec_hooks, dec_acts);
  if (opt.all_logits) {
    opt.all_logits->resize(size_t(dec_rows * V));
    m.decoder.logits(x_dec.get(), dec_rows, opt.all_logits->data());
  }

  phase("decoder forward");
  // ---- loss on the rows that predict weighted tokens ----
  std::vector<int64_t> tgt_rows;
  std::vector<int32_t> tgt_ids;
  std::vector<float> tgt_w;
  std::vector<int64_t> tgt_first(B + 1, 0);  // sample b's target rows: [tgt_first[b], [b+1])
  for (size_t b = 0; b < B; ++b) {
    tgt_first[b] = int64_t(tgt_rows.size());
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
  tgt_first[B] = NT;
  {
    const double I = double(cfg.intermediate_size), h = double(H), l = double(L);
    auto net = [&](int64_t rows, const std::vector<std::pair<int64_t, int64_t>>& seqs) {
      double f = 2.0 * double(rows) * (4 * h * h + 2 * h * I) * l;
      for (const auto& sq : seqs) f += 2.0 * double(sq.second) * double(sq.second) * h * l;
      return f;
    };
    // The encoder's last layer runs its dense projection and MLP on the P slot rows only.
    const double skipped = 2.0 * double(N_enc - P) * (h * h + 2 * h * I);
    const double fwd = net(N_enc, enc_seqs) - skipped + net(dec_rows, dec_seqs) +
                       2.0 * double(NT) * h * double(V) + 2.0 * double(P) * h * h * (l + 1);
    st.flops = opt.backward ? 3 * fwd : fwd;
  }
  DeviceBuffer h_t(be, be.act_bytes(NT * H));
  gather(x_dec.get(), tgt_rows, h_t.get());
  DeviceBuffer dlogits(be, opt.backward ? be.act_bytes(NT * V) : 0);
  {
    DeviceBuffer logits(be, size_t(NT * V) * 4);  // f32
    m.decoder.logits_device(h_t.get(), NT, static_cast<float*>(logits.get()));
    // Each sample's loss (its target rows are contiguous: one part each) for the per-task
    // losses in the training log; one synchronisation for the batch.
    st.sample_loss = be.cross_entropy_parts(static_cast<const float*>(logits.get()), V, tgt_first,
                                            tgt_ids.data(), tgt_w.data(),
                                            opt.backward ? dlogits.get() : nullptr, opt.loss_scale);
    for (double l : st.sample_loss) st.loss_sum += l;
  }
  phase("loss");
  if (!opt.backward) return st;

  // ---- backward: LM head, decoder (with the injection's gradients), E, embeddings ----
  DeviceBuffer dh = zeroed(NT), dx_dec = zeroed(dec_rows);
  m.decoder.logits_backward(h_t.get(), NT, dlogits.get(), dh.get(), g.decoder);
  dlogits.reset();
  scatter_add(dh.get(), tgt_rows, dx_dec.get());
  // Each level of dslots is written once (overwrite) by the product that produces it.
  DeviceBuffer dslots(be, slots.bytes()), dmem(be, be.act_bytes(P * H));
  BackwardHooks dec_bhooks;
  dec_bhooks.after_layer = [&](int64_t i, void* dx, int64_t) {
    if (P == 0) return;
    // x[mem] += s_{i+1} · A_i^T:  dA_i += dx_mem^T · s_{i+1},  ds_{i+1} = dx_mem · A_i.
    gather(dx, mem_rows, dmem.get());
    be.linear_backward(level(slots, i + 1), P, m.layer_proj_dev[size_t(i)], dmem.get(),
                       level(dslots, i + 1), false, g.layer_proj[size_t(i)].f32(), nullptr);
  };
  m.decoder.backward(dec_acts, dx_dec.get(), g.decoder, &dec_bhooks);
  for (size_t b = 0; b < B; ++b)
    m.decoder.embed_backward(batch[b].tokens.data(), int64_t(batch[b].tokens.size()),
                             act_at(be, dx_dec.get(), (dec_begin[b] + mem_count[b]) * H),
                             g.decoder);
  phase("decoder backward");
  if (P == 0) return st;
  gather(dx_dec.get(), mem_rows, dmem.get());
  be.linear_backward(level(slots, 0), P, m.embed_proj_dev, dmem.get(), level(dslots, 0), false,
                     g.embed_proj.f32(), nullptr);

  // ---- encoder: slot gradients enter at the rows they were taken from ----
  DeviceBuffer dx_enc(be, be.act_bytes(N_enc * H));  // written by backward_rows
  BackwardHooks enc_bhooks;
  enc_bhooks.after_layer = [&](int64_t i, void* dx, int64_t) {
    if (i < L - 1) scatter_add(level(dslots, i + 1), slot_rows, dx);
  };
  m.encoder.backward_rows(enc_acts, level(dslots, L), dx_enc.get(), g.encoder, &enc_bhooks);
  scatter_add(level(dslots, 0), slot_rows, dx_enc.get());
  m.encoder.embed_backward(enc_ids.data(), N_enc, dx_enc.get(), g.encoder);
  phase("encoder backward");
  return st;
}

}  // namespace rcc
