#include "train/trainable_rcc.h"

#include <cstring>
#include <functional>

namespace rcc {

namespace {

const char* kEncoderPrefix = "gpt_neox.rcc_encoder.";

using Visit = std::function<void(const std::string&, Tensor&)>;

// Every tensor of an RCC model in RCCModel::save order.
void visit_rcc(GPTNeoXWeights& dec, Tensor& E, std::vector<Tensor>& A, GPTNeoXWeights& enc,
               const Visit& f) {
  dec.visit("", f);
  f("gpt_neox.rcc_encoder2gpt_embed.weight", E);
  for (size_t i = 0; i < A.size(); ++i)
    f("gpt_neox.rcc_encoder2gpt_A_matrix." + std::to_string(i) + ".weight", A[i]);
  enc.visit(kEncoderPrefix, f);
}

RCCModel build(const RCCModel& init, ParamLayout& layout, Tensor& values) {
  RCC_CHECK(!init.decoder.config().tie_word_embeddings,
            "training: tied input/output embeddings are not supported");
  GPTNeoXWeights dec = init.decoder.weights(), enc = init.encoder.weights();
  Tensor E = init.embed_proj;
  std::vector<Tensor> A = init.layer_proj;
  visit_rcc(dec, E, A, enc,
            [&](const std::string& name, Tensor& t) { layout.add(name, t.shape()); });
  values = layout.new_buffer();
  size_t i = 0;
  visit_rcc(dec, E, A, enc, [&](const std::string&, Tensor& t) {
    Tensor v = layout.view(values, i++);
    Tensor f = t.dtype() == DType::F32 ? t : t.to(DType::F32);
    std::memcpy(v.f32(), f.f32(), v.nbytes());
    t = v;
  });
  RCCModel m{GPTNeoX(init.encoder.config(), std::move(enc)),
             GPTNeoX(init.decoder.config(), std::move(dec)), E, A, init.settings};
  m.encoder_fingerprint = encoder_fingerprint(m.encoder, m.settings);
  m.prepare();
  return m;
}

}  // namespace

TrainableRCC::TrainableRCC(const RCCModel& init) : model_(build(init, layout_, values_)) {
  grad_buf_ = layout_.new_buffer();
  grads_.decoder = model_.decoder.weights();
  grads_.encoder = model_.encoder.weights();
  grads_.embed_proj = model_.embed_proj;
  grads_.layer_proj = model_.layer_proj;
  size_t i = 0;
  visit_rcc(grads_.decoder, grads_.embed_proj, grads_.layer_proj, grads_.encoder,
            [&](const std::string&, Tensor& t) { t = layout_.view(grad_buf_, i++); });
}

void TrainableRCC::zero_grad() {
  std::memset(grad_buf_.raw(), 0, grad_buf_.nbytes());
}

void TrainableRCC::refresh_fingerprint() {
  model_.encoder_fingerprint = encoder_fingerprint(model_.encoder, model_.settings);
}

}  // namespace rcc
