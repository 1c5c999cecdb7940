#include "model/generate.h"

#include <algorithm>

#include "model/decode_batch.h"

namespace rcc {

std::vector<GenerateResult> generate(const Transformer& model, std::vector<KVCache*> caches,
                                     const std::vector<std::vector<int32_t>>& prompts,
                                     const GenerateParams& params) {
  const size_t B = prompts.size();
  RCC_CHECK(caches.size() == B, "generate: ", caches.size(), " caches for ", B, " prompts");
  RCC_CHECK(params.max_new_tokens >= 0, "max-new-tokens must be >= 0");
  std::vector<GenerateResult> out(B);
  for (size_t b = 0; b < B; ++b)
    RCC_CHECK(!prompts[b].empty(), "generate: prompt ", b, " is empty");
  if (params.max_new_tokens == 0 || B == 0) return out;
  // Every sequence joins at once and feeds its whole prompt in the first pass.
  DecodeBatch batch(model);
  std::vector<uint64_t> handles;
  for (size_t b = 0; b < B; ++b)
    handles.push_back(batch.add({caches[b], prompts[b], params, b, uint64_t(b)}));
  while (!batch.empty())
    for (auto& [h, r] : batch.step())
      out[size_t(std::find(handles.begin(), handles.end(), h) - handles.begin())] = std::move(r);
  return out;
}

GenerateResult generate(const Transformer& model, const std::vector<int32_t>& prompt,
                        const GenerateParams& params) {
  KVCache cache = model.new_cache();
  return generate(model, {&cache}, {prompt}, params)[0];
}

}  // namespace rcc
