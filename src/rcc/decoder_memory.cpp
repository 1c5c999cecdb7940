#include "rcc/decoder_memory.h"

#include <algorithm>
#include <cstring>

#include "ops/linear.h"

namespace rcc {

namespace {
constexpr int64_t kPrefillChunk = 512;  // memory rows per decoder pass (bounds activations)
}

DecoderMemory::DecoderMemory(const RCCModel& model)
    : model_(model), cache_(model.decoder.new_cache()) {}

void DecoderMemory::extend(const float* slots, int64_t n, float* final_hidden) {
  if (n <= 0) return;
  const GPTNeoX& dec = model_.decoder;
  const int64_t H = dec.config().hidden_size, L = dec.config().num_layers, levels = L + 1;
  RCC_CHECK(cache_.length() == length_, "decoder memory: the cache holds a prompt; truncate first");
  std::vector<float> level(static_cast<size_t>(n * H)), x(static_cast<size_t>(n * H));
  auto gather = [&](int64_t k) {  // level[n, H] = s_k of every slot
    for (int64_t r = 0; r < n; ++r)
      std::memcpy(level.data() + r * H, slots + (r * levels + k) * H, size_t(H) * 4);
  };
  gather(0);
  ops::linear(level.data(), n, model_.embed_proj, nullptr, x.data());  // x = E · s_0
  ForwardHooks hooks;
  hooks.after_layer = [&](int64_t i, float* h, int64_t rows) {
    gather(i + 1);
    ops::linear(level.data(), rows, model_.layer_proj[size_t(i)], nullptr, h, /*accumulate=*/true);
  };
  SeqSlice s{0, n, &cache_};
  dec.forward(x.data(), n, {&s, 1}, &hooks);
  length_ += n;
  if (final_hidden) std::memcpy(final_hidden, x.data(), size_t(n * H) * 4);
}

void DecoderMemory::extend(const Memory& m, int64_t begin, int64_t n) {
  RCC_CHECK(m.levels == model_.layers() + 1 && m.hidden == model_.hidden(),
            "memory of shape [P, ", m.levels, ", ", m.hidden, "] does not fit a decoder with ",
            model_.layers(), " layers and hidden size ", model_.hidden());
  std::vector<float> buf;
  for (int64_t b = begin; b < begin + n; b += kPrefillChunk) {
    const int64_t c = std::min(kPrefillChunk, begin + n - b);
    buf.resize(static_cast<size_t>(c * m.levels * m.hidden));
    m.slots_f32(b, c, buf.data());
    extend(buf.data(), c);
  }
}

void DecoderMemory::restore(int64_t P,
                            const std::function<void(int64_t, float*, float*)>& fill) {
  RCC_CHECK(length_ == 0 && cache_.length() == 0, "decoder memory: restore needs an empty cache");
  cache_.reserve(P);
  for (int64_t l = 0; l < cache_.layers(); ++l) fill(l, cache_.k(l), cache_.v(l));
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

std::vector<GenerateResult> DecoderMemory::generate_batch(
    const std::vector<std::vector<int32_t>>& prompts, const GenerateParams& params) {
  RCC_CHECK(length_ > 0, "decoder memory is empty: compress a context first");
  if (prompts.size() == 1) {
    std::vector<GenerateResult> r;
    try {
      r = rcc::generate(model_.decoder, {&cache_}, prompts, params);
    } catch (...) {
      cache_.truncate(length_);
      throw;
    }
    cache_.truncate(length_);
    return r;
  }
  std::vector<KVCache> copies(prompts.size(), cache_);
  std::vector<KVCache*> ptrs;
  for (auto& c : copies) ptrs.push_back(&c);
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
