#include "train/trainable_rcc.h"

#include <cstring>
#include <functional>

namespace rcc {

namespace {

const char* kEncoderPrefix = "gpt_neox.rcc_encoder.";

using Visit = std::function<void(const std::string&, Tensor&)>;

// Every tensor of an RCC model in RCCModel::save order.
void visit_rcc(ModelWeights& dec, Tensor& E, std::vector<Tensor>& A, ModelWeights& enc,
               const Visit& f) {
  dec.visit("", f);
  f("gpt_neox.rcc_encoder2gpt_embed.weight", E);
  for (size_t i = 0; i < A.size(); ++i)
    f("gpt_neox.rcc_encoder2gpt_A_matrix." + std::to_string(i) + ".weight", A[i]);
  enc.visit(kEncoderPrefix, f);
}

// The parts of an RCC model as separate weight sets, to be re-pointed into buffers.
struct Parts {
  ModelWeights dec, enc;
  Tensor E;
  std::vector<Tensor> A;
  void visit(const Visit& f) { visit_rcc(dec, E, A, enc, f); }
};

// A tensor of type `t` and the shape of `e` at byte `offset` of a device buffer.
Tensor device_view(const ParamEntry& e, void* base, size_t offset, DType t) {
  return Tensor::borrow(t, e.shape, static_cast<char*>(base) + offset, nullptr);
}

// The compute copy's byte offsets: every tensor 256-byte aligned, as prepare_weight's own
// allocations are (cuBLASLt picks its fastest kernels, bias epilogue included, only for
// well-aligned operands); matrices in `matrix` type, vectors f32.
std::vector<size_t> compute_offsets(const ParamLayout& layout, DType matrix, size_t* total) {
  std::vector<size_t> off;
  size_t at = 0;
  for (const ParamEntry& e : layout.entries()) {
    at = (at + 255) / 256 * 256;
    off.push_back(at);
    at += size_t(e.numel) * (e.shape.size() >= 2 ? dtype_size(matrix) : 4);
  }
  *total = at;
  return off;
}

}  // namespace

TrainableRCC::TrainableRCC(const RCCModel& init, Backend& be)
    : be_(&be),
      model_{Transformer(init.encoder.config(), init.encoder.weights()),
             Transformer(init.decoder.config(), init.decoder.weights()), init.embed_proj,
             init.layer_proj, init.settings} {
  RCC_CHECK(!init.decoder.config().tie_word_embeddings,
            "training: tied input/output embeddings are not supported");
  Parts host{init.decoder.weights(), init.encoder.weights(), init.embed_proj, init.layer_proj};
  host.visit([&](const std::string& name, Tensor& t) { layout_.add(name, t.shape()); });
  values_ = layout_.new_buffer();
  size_t i = 0;
  host.visit([&](const std::string&, Tensor& t) {
    Tensor v = layout_.view(values_, i++);
    Tensor f = t.dtype() == DType::F32 ? t : t.to(DType::F32);
    std::memcpy(v.f32(), f.f32(), v.nbytes());
    t = v;
  });
  const auto& entries = layout_.entries();
  Parts dev = host, grads = host;
  if (be.is_host()) {
    master_ = values_.f32();
    host_grad_ = layout_.new_buffer();
    grad_ = host_grad_.f32();
    i = 0;
    grads.visit([&](const std::string&, Tensor& t) { t = layout_.view(host_grad_, i++); });
  } else {
    const size_t n = size_t(layout_.total());
    dev_master_ = DeviceBuffer(be, n * 4);
    dev_grad_ = DeviceBuffer(be, n * 4);
    size_t compute_bytes = 0;
    compute_offset_ = compute_offsets(layout_, be.act_dtype(), &compute_bytes);
    dev_compute_ = DeviceBuffer(be, compute_bytes);
    master_ = static_cast<float*>(dev_master_.get());
    grad_ = static_cast<float*>(dev_grad_.get());
    upload_from_host();
    // The model computes with the compute copy: matrices in bf16, vectors in f32.
    i = 0;
    dev.visit([&](const std::string&, Tensor& t) {
      const ParamEntry& e = entries[i];
      t = device_view(e, dev_compute_.get(), compute_offset_[i],
                      e.shape.size() >= 2 ? be.act_dtype() : DType::F32);
      ++i;
    });
    i = 0;
    grads.visit([&](const std::string&, Tensor& t) {
      const ParamEntry& e = entries[i++];
      t = device_view(e, dev_grad_.get(), size_t(e.offset) * 4, DType::F32);
    });
  }
  zero_grad();
  const ModelConfig &ecfg = init.encoder.config(), &dcfg = init.decoder.config();
  if (be.is_host()) {
    model_ = RCCModel{Transformer(ecfg, host.enc), Transformer(dcfg, host.dec), host.E, host.A,
                      init.settings};
    model_.prepare();
  } else {
    model_ = RCCModel{Transformer(ecfg, host.enc, dev.enc, be),
                      Transformer(dcfg, host.dec, dev.dec, be), host.E, host.A, init.settings};
    model_.embed_proj_dev = dev.E;
    model_.layer_proj_dev = dev.A;
  }
  model_.encoder_fingerprint = encoder_fingerprint(model_.encoder, model_.settings);
  grads_.decoder = grads.dec;
  grads_.encoder = grads.enc;
  grads_.embed_proj = grads.E;
  grads_.layer_proj = grads.A;
}

Tensor TrainableRCC::gradients() const {
  if (be_->is_host()) return host_grad_;
  Tensor g = layout_.new_buffer();
  be_->copy_to_host(g.raw(), grad_, g.nbytes());
  return g;
}

void TrainableRCC::zero_grad() {
  be_->zero(grad_, size_t(layout_.total()) * 4);
}

void TrainableRCC::after_update() {
  if (be_->is_host()) return;
  const auto& entries = layout_.entries();
  char* base = static_cast<char*>(dev_compute_.get());
  for (size_t i = 0; i < entries.size(); ++i) {
    const ParamEntry& e = entries[i];
    if (e.shape.size() >= 2)
      be_->master_to_matrix(master_ + e.offset, e.numel, base + compute_offset_[i]);
    else
      be_->copy_device(base + compute_offset_[i], master_ + e.offset, size_t(e.numel) * 4);
  }
}

std::vector<void*> TrainableRCC::compute_targets() const {
  std::vector<void*> out;
  if (be_->is_host()) return out;
  char* base = static_cast<char*>(dev_compute_.get());
  for (size_t off : compute_offset_) out.push_back(base + off);
  return out;
}

void TrainableRCC::sync_to_host() {
  if (!be_->is_host()) be_->copy_to_host(values_.raw(), master_, values_.nbytes());
}

void TrainableRCC::upload_from_host() {
  if (be_->is_host()) return;
  be_->copy_to_device(master_, values_.raw(), values_.nbytes());
  after_update();
}

void TrainableRCC::refresh_fingerprint() {
  model_.encoder_fingerprint = encoder_fingerprint(model_.encoder, model_.settings);
}

}  // namespace rcc
