#include "model/generate.h"

#include <algorithm>
#include <chrono>

namespace rcc {

std::vector<GenerateResult> generate(const GPTNeoX& model, std::vector<KVCache*> caches,
                                     const std::vector<std::vector<int32_t>>& prompts,
                                     const GenerateParams& params) {
  const size_t B = prompts.size();
  RCC_CHECK(caches.size() == B, "generate: ", caches.size(), " caches for ", B, " prompts");
  RCC_CHECK(params.max_new_tokens >= 0, "max-new-tokens must be >= 0");
  const int64_t H = model.config().hidden_size, V = model.config().vocab_size;
  std::vector<GenerateResult> out(B);
  std::vector<std::vector<int32_t>> history(prompts);
  std::vector<Sampler> samplers;
  for (size_t b = 0; b < B; ++b) samplers.emplace_back(params.sampling, b);
  if (params.max_new_tokens == 0 || B == 0) return out;

  // Step 0 feeds whole prompts (one prefill pass); later steps one token per live sequence.
  std::vector<size_t> live(B);
  for (size_t b = 0; b < B; ++b) {
    RCC_CHECK(!prompts[b].empty(), "generate: prompt ", b, " is empty");
    live[b] = b;
  }
  std::vector<std::vector<int32_t>> feed(prompts);
  Backend& be = model.backend();
  DeviceBuffer x, h_last;
  std::vector<float> logits;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point first_done = start;
  for (int64_t step = 0; !live.empty(); ++step) {
    std::vector<SeqSlice> seqs;
    std::vector<int32_t> ids;
    for (size_t b : live) {
      seqs.push_back({int64_t(ids.size()), int64_t(feed[b].size()), caches[b]});
      ids.insert(ids.end(), feed[b].begin(), feed[b].end());
    }
    const int64_t rows = int64_t(ids.size());
    x.ensure(be, be.act_bytes(rows * H));
    model.embed(ids.data(), rows, x.get());
    model.forward(x.get(), rows, seqs);
    // Only the last row of each sequence needs logits.
    std::vector<int64_t> last(live.size());
    for (size_t i = 0; i < live.size(); ++i) last[i] = seqs[i].begin + seqs[i].count - 1;
    h_last.ensure(be, be.act_bytes(int64_t(live.size()) * H));
    be.gather_rows(x.get(), H, last.data(), int64_t(live.size()), H, h_last.get(), H);
    logits.resize(live.size() * size_t(V));
    model.logits(h_last.get(), int64_t(live.size()), logits.data());  // on the host: synchronous
    if (step == 0) first_done = Clock::now();
    std::vector<size_t> next_live;
    for (size_t i = 0; i < live.size(); ++i) {
      const size_t b = live[i];
      int32_t tok = samplers[b].next(logits.data() + i * size_t(V), V, history[b]);
      out[b].ids.push_back(tok);
      history[b].push_back(tok);
      const int64_t n = int64_t(out[b].ids.size());
      bool stop =
          n > params.min_new_tokens &&
          std::find(params.stop_ids.begin(), params.stop_ids.end(), tok) != params.stop_ids.end();
      out[b].stopped = stop;
      if (params.on_token && !params.on_token(b, tok)) out[b].cancelled = true;
      if (!stop && !out[b].cancelled && n < params.max_new_tokens) {
        feed[b] = {tok};
        next_live.push_back(b);
      }
    }
    live.swap(next_live);
  }
  const Clock::time_point end = Clock::now();
  for (GenerateResult& r : out) {
    r.prompt_seconds = std::chrono::duration<double>(first_done - start).count();
    r.decode_seconds = std::chrono::duration<double>(end - first_done).count();
  }
  return out;
}

GenerateResult generate(const GPTNeoX& model, const std::vector<int32_t>& prompt,
                        const GenerateParams& params) {
  KVCache cache = model.new_cache();
  return generate(model, {&cache}, {prompt}, params)[0];
}

}  // namespace rcc
