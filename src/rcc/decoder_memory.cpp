#include "rcc/decoder_memory.h"

#include <algorithm>
#include <cstring>

#include "ops/linear.h"

namespace rcc {

namespace {
constexpr int64_t kPrefillChunk = 512;  // memory rows per decoder pass (bounds activations)
// On a GPU larger passes keep the matrix products compute-bound (activations are small beside the
// KV cache there).
constexpr int64_t kDevicePrefillChunk = 2048;
}  // namespace

DecoderMemory::DecoderMemory(const RCCModel& model, bool eight_bit)
    : model_(model),
      cache_(model.decoder.new_cache(eight_bit)),
      chunk_(model.backend().is_host() ? kPrefillChunk : kDevicePrefillChunk) {
  RCC_CHECK(
      model.embed_proj_dev.defined() && int64_t(model.layer_proj_dev.size()) == model.layers(),
      "decoder memory: the RCC model's projections are not prepared (RCCModel::prepare)");
}

DecoderMemory::DecoderMemory(const RCCModel& model, std::shared_ptr<const DecoderMemory> base)
    : model_(model),
      base_(std::move(base)),
      cache_(KVCache::continuing(base_->cache(), base_)),
      length_(base_->length()),
      chunk_(base_->chunk_) {
  RCC_CHECK(&base_->model_ == &model, "decoder memory: the base belongs to another model");
  RCC_CHECK(base_->pending_n_ == 0, "decoder memory: the base has streamed slots pending");
}

void DecoderMemory::extend(const float* slots, int64_t n, float* final_hidden) {
  if (n <= 0) return;
  Backend& be = model_.backend();
  if (be.is_host()) return extend_device(slots, n, final_hidden);
  const int64_t count = n * (model_.layers() + 1) * model_.hidden();
  DeviceBuffer dev(be, be.act_bytes(count));
  be.upload_f32(slots, count, dev.get());
  extend_device(dev.get(), n, final_hidden);
}

void DecoderMemory::extend_device(const void* slots, int64_t n, float* final_hidden) {
  if (n <= 0) return;
  const Transformer& dec = model_.decoder;
  Backend& be = dec.backend();
  const int64_t H = dec.config().hidden_size, L = dec.config().num_layers, levels = L + 1;
  RCC_CHECK(cache_.length() == length_, "decoder memory: the cache holds a prompt; truncate first");
  DeviceBuffer level(be, be.act_bytes(n * H)), x(be, be.act_bytes(n * H));
  auto gather = [&](int64_t k) {  // level[n, H] = s_k of every slot
    be.copy_rows(level.get(), be.act_bytes(H), act_at(be, slots, k * H), be.act_bytes(levels * H),
                 be.act_bytes(H), n);
  };
  gather(0);
  be.linear(level.get(), n, model_.embed_proj_dev, nullptr, x.get(), false);  // x = E · s_0
  ForwardHooks hooks;
  hooks.after_layer = [&](int64_t i, void* h, int64_t rows) {
    gather(i + 1);  // x += A_i · s_{i+1}
    be.linear(level.get(), rows, model_.layer_proj_dev[size_t(i)], nullptr, h, /*accumulate=*/true);
  };
  SeqSlice s{0, n, &cache_};
  dec.forward(x.get(), n, {&s, 1}, &hooks);
  length_ += n;
  if (final_hidden) be.download_f32(x.get(), n * H, final_hidden);
}

void DecoderMemory::push(const void* slots_dev, int64_t n) {
  Backend& be = model_.backend();
  const int64_t per = (model_.layers() + 1) * model_.hidden();
  while (n > 0) {
    if (pending_n_ == 0 && n >= chunk_) {  // whole chunks straight from the caller's buffer
      extend_device(slots_dev, chunk_, nullptr);
      slots_dev = act_at(be, slots_dev, chunk_ * per);
      n -= chunk_;
      continue;
    }
    pending_.ensure(be, be.act_bytes(chunk_ * per));
    const int64_t take = std::min(n, chunk_ - pending_n_);
    be.copy_device(act_at(be, pending_.get(), pending_n_ * per), slots_dev,
                   be.act_bytes(take * per));
    pending_n_ += take;
    slots_dev = act_at(be, slots_dev, take * per);
    n -= take;
    if (pending_n_ == chunk_) flush();
  }
}

void DecoderMemory::set_chunk(int64_t chunk) {
  RCC_CHECK(chunk > 0 && pending_n_ == 0, "decoder memory: bad prefill chunk ", chunk);
  chunk_ = chunk;
  pending_.reset();
}

void DecoderMemory::flush() {
  if (pending_n_ == 0) return;
  const int64_t n = pending_n_;
  pending_n_ = 0;
  extend_device(pending_.get(), n, nullptr);
}

void DecoderMemory::extend(const Memory& m, int64_t begin, int64_t n) {
  RCC_CHECK(m.levels == model_.layers() + 1 && m.hidden == model_.hidden(), "memory of shape [P, ",
            m.levels, ", ", m.hidden, "] does not fit a decoder with ", model_.layers(),
            " layers and hidden size ", model_.hidden());
  std::vector<float> buf;
  for (int64_t b = begin; b < begin + n; b += kPrefillChunk) {
    const int64_t c = std::min(kPrefillChunk, begin + n - b);
    buf.resize(static_cast<size_t>(c * m.levels * m.hidden));
    m.slots_f32(b, c, buf.data());
    extend(buf.data(), c);
  }
}

void DecoderMemory::restore(int64_t P, const std::function<void(int64_t, float*, float*)>& fill) {
  RCC_CHECK(length_ == 0 && cache_.length() == 0, "decoder memory: restore needs an empty cache");
  Backend& be = cache_.backend();
  RCC_CHECK(be.is_host() || cache_.dtype() == be.act_dtype(),
            "decoder memory: restoring a saved cache into an 8-bit cache is not supported");
  cache_.reserve(P);
  std::vector<float> k, v;
  for (int64_t l = 0; l < cache_.layers(); ++l) {
    if (be.is_host()) {
      fill(l, cache_.k(l), cache_.v(l));
    } else {
      k.resize(size_t(P * cache_.width()));
      v.resize(k.size());
      fill(l, k.data(), v.data());
      be.upload_f32(k.data(), P * cache_.width(), cache_.k_data(l));
      be.upload_f32(v.data(), P * cache_.width(), cache_.v_data(l));
    }
  }
  cache_.advance(P);
  length_ = P;
}

void DecoderMemory::truncate(int64_t P) {
  RCC_CHECK(P >= 0 && P <= length_, "decoder memory: cannot keep ", P, " of ", length_,
            " positions");
  cache_.truncate(P);
  length_ = P;
}

GenerateResult DecoderMemory::generate(const std::vector<int32_t>& prompt,
                                       const GenerateParams& params) {
  return generate_batch({prompt}, params)[0];
}

KVCache DecoderMemory::answer_cache(std::shared_ptr<const void> keep) const {
  RCC_CHECK(pending_n_ == 0, "decoder memory: streamed slots are pending (flush first)");
  RCC_CHECK(length_ > 0, "decoder memory is empty: compress a context first");
  RCC_CHECK(cache_.length() == length_, "decoder memory: the cache holds a prompt");
  if (cache_.prefix()) return cache_;  // own positions copied, the prefix still shared
  return KVCache::continuing(cache_, std::move(keep));
}

std::vector<GenerateResult> DecoderMemory::generate_batch(
    const std::vector<std::vector<int32_t>>& prompts, const GenerateParams& params) {
  std::vector<KVCache> caches;
  for (size_t i = 0; i < prompts.size(); ++i) caches.push_back(answer_cache());
  std::vector<KVCache*> ptrs;
  for (auto& c : caches) ptrs.push_back(&c);
  return rcc::generate(model_.decoder, ptrs, prompts, params);
}

std::vector<float> DecoderMemory::prompt_logits(const std::vector<int32_t>& prompt) {
  std::vector<float> out;
  try {
    out = model_.decoder.forward_logits(prompt, cache_);
  } catch (...) {
    cache_.truncate(length_);
    throw;
  }
  cache_.truncate(length_);
  return out;
}

}  // namespace rcc
