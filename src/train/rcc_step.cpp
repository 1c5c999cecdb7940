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

namespace {

using Seqs = std::vector<std::pair<int64_t, int64_t>>;  // (first row, rows) of each sequence

// Model FLOPs of a pass (StepStats::flops): both networks' matrix products and causal attention
// over their sequences, less the encoder's last-layer dense projection and MLP off the P slot
// rows, plus the LM head on the NT target rows and the P·(L+1) projections; ×3 with the backward.
double pass_flops(const ModelConfig& cfg, int64_t N_enc, const Seqs& enc_seqs, int64_t dec_rows,
                  const Seqs& dec_seqs, int64_t P, int64_t NT, bool backward) {
  const double I = double(cfg.intermediate_size), h = double(cfg.hidden_size),
               l = double(cfg.num_layers), q = double(cfg.q_width()), qkv = double(cfg.qkv_width()),
               m = double(cfg.mlp_in_rows());
  const int64_t V = cfg.vocab_size;
  // Per row and layer: qkv, the output projection, the MLP's two (SwiGLU: three) matrices
  // (GPT-NeoX: 4H² + 2HI); attention 2·n²·Q per sequence of n rows.
  const double out_part = h * q + h * m + I * h;
  auto net = [&](int64_t rows, const Seqs& seqs) {
    double f = 2.0 * double(rows) * (h * qkv + out_part) * l;
    for (const auto& sq : seqs) f += 2.0 * double(sq.second) * double(sq.second) * q * l;
    return f;
  };
  // The encoder's last layer runs its dense projection and MLP on the P slot rows only.
  const double skipped = 2.0 * double(N_enc - P) * out_part;
  const double fwd = net(N_enc, enc_seqs) - skipped + net(dec_rows, dec_seqs) +
                     2.0 * double(NT) * h * double(V) + 2.0 * double(P) * h * h * (l + 1);
  return backward ? 3 * fwd : fwd;
}

// One forward (and backward) pass of rcc_forward_backward over a batch: its row layout, its
// device buffers and its phases, each method one phase, called in declaration order. Activation
// matrices are [rows, H] on the backend; P is the number of slots of the whole batch.
struct StepPass {
  StepPass(TrainableRCC& model, std::span<const Sample> samples, const StepOptions& options)
      : tm(model),
        m(model.model()),
        g(model.grads()),
        be(model.backend()),
        cfg(m.decoder.config()),
        H(cfg.hidden_size),
        L(cfg.num_layers),
        V(cfg.vocab_size),
        W(m.settings.window),
        R(m.settings.ratio),
        B(samples.size()),
        batch(samples),
        opt(options) {}

  // With opt.profile: the time since the previous phase (or the pass's start) charged to `name`,
  // the backend synchronised first.
  void phase(const char* name) {
    if (!opt.profile) return;
    be.synchronize();
    const auto now = std::chrono::steady_clock::now();
    opt.profile->add(name, std::chrono::duration<double>(now - last).count());
    last = now;
  }

  // The layout: every aligned window of every sample's context is one encoder sequence (enc_ids,
  // enc_seqs); slot_rows are the encoder rows of the slots, all samples in order (P of them).
  // Sample b's decoder sequence starts at row dec_begin[b]: its mem_count[b] memory rows (at
  // mem_rows), then its tokens. Checks the samples' tokens and weights.
  void lay_out(StepStats& st) {
    mem_count.resize(B);
    dec_begin.resize(B);
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
    P = int64_t(slot_rows.size());
    N_enc = int64_t(enc_ids.size());
    st.encoder_tokens = N_enc;
    st.decoder_rows = dec_rows;
  }

  // Encoder forward into `slots`, level-major: level k of all slots is [P, H] at slots + k·P·H;
  // s_0 the embeddings, s_{i+1} the output of layer i (i < L−1), s_L the final layer norm at the
  // slot rows. Activations kept in tm.encoder_acts.
  void encoder_forward() {
    slots = DeviceBuffer(be, be.act_bytes((L + 1) * P * H));
    x_enc = DeviceBuffer(be, be.act_bytes(N_enc * H));
    if (P == 0) return;
    m.encoder.embed(enc_ids.data(), N_enc, x_enc.get());
    gather(x_enc.get(), slot_rows, level(slots, 0));  // s_0: embeddings
    ForwardHooks hooks;
    hooks.after_layer = [&](int64_t i, void* x, int64_t) {
      if (i < L - 1) gather(x, slot_rows, level(slots, i + 1));  // s_{i+1}
    };
    // s_L: the final layer norm at the slot rows; the last layer's dense projection and MLP run
    // on the slot rows only (spec §2.1 needs s_L nowhere else).
    m.encoder.forward_train_rows(x_enc.get(), enc_seqs, &hooks, slot_rows, tm.encoder_acts,
                                 level(slots, L));
  }

  // Decoder forward into x_dec [dec_rows, H]: the memory rows E·s_0 (+ A_i·s_{i+1} after layer
  // i), then each sample's token embeddings; activations kept in tm.decoder_acts. With
  // opt.all_logits: the logits of every row, [dec_rows, V].
  void decoder_forward() {
    // Memory rows are zero before E·s_0 is added: the scatter-add then equals a copy.
    x_dec = zeroed(dec_rows);
    tmp = DeviceBuffer(be, be.act_bytes(P * H));
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
    m.decoder.forward_train(x_dec.get(), dec_seqs, &dec_hooks, tm.decoder_acts);
    if (opt.all_logits) {
      opt.all_logits->resize(size_t(dec_rows * V));
      m.decoder.logits(x_dec.get(), dec_rows, opt.all_logits->data());
    }
  }

  // The loss targets: the decoder rows that predict a weighted token (the row before it), with
  // the token and its weight; sample b's are [tgt_first[b], tgt_first[b + 1]). Adds the weights to
  // st.target_weight. Checks the weights (none negative; none on a token 0 without memory).
  void find_targets(StepStats& st) {
    tgt_first.assign(B + 1, 0);
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
    NT = int64_t(tgt_rows.size());
    tgt_first[B] = NT;
  }

  // Σ weight · cross-entropy over the targets: st.sample_loss per sample, st.loss_sum their sum.
  // With opt.backward, dlogits [NT, V] = the gradient of opt.loss_scale · loss_sum.
  void loss(StepStats& st) {
    h_t = DeviceBuffer(be, be.act_bytes(NT * H));
    gather(x_dec.get(), tgt_rows, h_t.get());
    dlogits = DeviceBuffer(be, opt.backward ? be.act_bytes(NT * V) : 0);
    DeviceBuffer logits(be, size_t(NT * V) * 4);  // f32
    m.decoder.logits_device(h_t.get(), NT, static_cast<float*>(logits.get()));
    // Each sample's loss (its target rows are contiguous: one part each) for the per-task
    // losses in the training log; one synchronisation for the batch.
    st.sample_loss = be.cross_entropy_parts(static_cast<const float*>(logits.get()), V, tgt_first,
                                            tgt_ids.data(), tgt_w.data(),
                                            opt.backward ? dlogits.get() : nullptr, opt.loss_scale);
    for (double l : st.sample_loss) st.loss_sum += l;
  }

  // Backward of the LM head and the decoder (with the memory injection's gradients into dA_i and
  // the slot levels 1..L of dslots) and the token embeddings; dx_dec [dec_rows, H] holds the
  // gradient of the decoder's input rows.
  void decoder_backward() {
    dh = zeroed(NT);
    dx_dec = zeroed(dec_rows);
    m.decoder.logits_backward(h_t.get(), NT, dlogits.get(), dh.get(), g.decoder);
    dlogits.reset();
    scatter_add(dh.get(), tgt_rows, dx_dec.get());
    // Each level of dslots is written once (overwrite) by the product that produces it.
    dslots = DeviceBuffer(be, slots.bytes());
    dmem = DeviceBuffer(be, be.act_bytes(P * H));
    BackwardHooks dec_bhooks;
    dec_bhooks.after_layer = [&](int64_t i, void* dx, int64_t) {
      if (P == 0) return;
      // x[mem] += s_{i+1} · A_i^T:  dA_i += dx_mem^T · s_{i+1},  ds_{i+1} = dx_mem · A_i.
      gather(dx, mem_rows, dmem.get());
      be.linear_backward(level(slots, i + 1), P, m.layer_proj_dev[size_t(i)], dmem.get(),
                         level(dslots, i + 1), false, g.layer_proj[size_t(i)].f32(), nullptr);
    };
    m.decoder.backward(tm.decoder_acts, dx_dec.get(), g.decoder, &dec_bhooks);
    for (size_t b = 0; b < B; ++b)
      m.decoder.embed_backward(batch[b].tokens.data(), int64_t(batch[b].tokens.size()),
                               act_at(be, dx_dec.get(), (dec_begin[b] + mem_count[b]) * H),
                               g.decoder);
  }

  // (P > 0) Backward of E (dE and ds_0 from the memory rows of dx_dec), then of the encoder: the
  // slot gradients enter at the rows they were taken from.
  void encoder_backward() {
    gather(dx_dec.get(), mem_rows, dmem.get());
    be.linear_backward(level(slots, 0), P, m.embed_proj_dev, dmem.get(), level(dslots, 0), false,
                       g.embed_proj.f32(), nullptr);
    dx_enc = DeviceBuffer(be, be.act_bytes(N_enc * H));  // written by backward_rows
    BackwardHooks enc_bhooks;
    enc_bhooks.after_layer = [&](int64_t i, void* dx, int64_t) {
      if (i < L - 1) scatter_add(level(dslots, i + 1), slot_rows, dx);
    };
    m.encoder.backward_rows(tm.encoder_acts, level(dslots, L), dx_enc.get(), g.encoder,
                            &enc_bhooks);
    scatter_add(level(dslots, 0), slot_rows, dx_enc.get());
    m.encoder.embed_backward(enc_ids.data(), N_enc, dx_enc.get(), g.encoder);
  }

  // Rows of a [*, H] activation matrix by index: gather dst[i] = src[idx[i]], or
  // scatter-add dst[idx[i]] += src[i] (indices distinct).
  void gather(const void* src, const std::vector<int64_t>& idx, void* dst) {
    be.gather_rows(src, H, idx.data(), int64_t(idx.size()), H, dst, H);
  }
  void scatter_add(const void* src, const std::vector<int64_t>& idx, void* dst) {
    be.scatter_add_rows(src, idx.data(), int64_t(idx.size()), H, dst);
  }
  DeviceBuffer zeroed(int64_t rows) {
    DeviceBuffer b(be, be.act_bytes(rows * H));
    be.zero(b.get(), b.bytes());
    return b;
  }
  // Level k of a level-major slot buffer (slots, dslots): [P, H].
  void* level(const DeviceBuffer& v, int64_t k) { return act_at(be, v.get(), k * P * H); }

  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();  // see phase()
  TrainableRCC& tm;
  const RCCModel& m;
  const RCCGrads& g;
  Backend& be;
  const ModelConfig& cfg;
  const int64_t H, L, V, W, R;
  const size_t B;
  const std::span<const Sample> batch;
  const StepOptions& opt;

  // lay_out
  std::vector<int32_t> enc_ids;
  Seqs enc_seqs, dec_seqs;
  std::vector<int64_t> slot_rows;  // encoder row of every slot (all samples, in order)
  std::vector<int64_t> mem_rows;   // decoder row of every slot
  std::vector<int64_t> mem_count, dec_begin;
  int64_t dec_rows = 0, P = 0, N_enc = 0;
  // find_targets
  std::vector<int64_t> tgt_rows;
  std::vector<int32_t> tgt_ids;
  std::vector<float> tgt_w;
  std::vector<int64_t> tgt_first;  // sample b's target rows: [tgt_first[b], [b+1])
  int64_t NT = 0;
  // Device buffers, in the order the phases allocate them (freed in reverse).
  DeviceBuffer slots, x_enc, x_dec, tmp, h_t, dlogits, dh, dx_dec, dslots, dmem, dx_enc;
};

}  // namespace

StepStats rcc_forward_backward(TrainableRCC& tm, std::span<const Sample> batch,
                               const StepOptions& opt) {
  StepPass pass(tm, batch, opt);
  StepStats st;
  pass.lay_out(st);
  pass.phase("layout");
  pass.encoder_forward();
  pass.phase("encoder forward");
  pass.decoder_forward();
  pass.phase("decoder forward");
  pass.find_targets(st);
  st.flops = pass_flops(pass.cfg, pass.N_enc, pass.enc_seqs, pass.dec_rows, pass.dec_seqs, pass.P,
                        pass.NT, opt.backward);
  pass.loss(st);
  pass.phase("loss");
  if (!opt.backward) return st;
  pass.decoder_backward();
  pass.phase("decoder backward");
  if (pass.P == 0) return st;
  pass.encoder_backward();
  pass.phase("encoder backward");
  return st;
}

}  // namespace rcc
