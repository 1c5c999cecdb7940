#include "model/decode_batch.h"

#include <algorithm>
#include <chrono>

namespace rcc {

namespace {
constexpr int64_t kReserveTokens = 256;  // answer positions reserved up front

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

DecodeBatch::DecodeBatch(const Transformer& model, int64_t prefill_rows)
    : model_(model), prefill_rows_(prefill_rows) {
  RCC_CHECK(prefill_rows >= 0, "decode batch: prefill rows must be >= 0, got ", prefill_rows);
}

uint64_t DecodeBatch::add(BatchSequence s) {
  RCC_CHECK(s.cache != nullptr, "decode batch: a sequence without a cache");
  RCC_CHECK(!s.prompt.empty(), "decode batch: the prompt is empty");
  RCC_CHECK(s.params.max_new_tokens >= 1, "decode batch: max-new-tokens must be >= 1");
  const int64_t V = model_.config().vocab_size;
  for (size_t i = 0; i < s.prompt.size(); ++i)
    RCC_CHECK(s.prompt[i] >= 0 && s.prompt[i] < V, "token id ", s.prompt[i], " at position ", i,
              " is outside the vocabulary [0, ", V, ")");
  s.params.sampling.validate();
  // Room for the prompt and the first tokens; longer answers grow the cache (by half each time), so
  // a large max_new_tokens does not reserve memory that a short answer never uses.
  s.cache->reserve(s.cache->length() + int64_t(s.prompt.size()) +
                   std::min<int64_t>(s.params.max_new_tokens, kReserveTokens));
  Sampler sampler(s.params.sampling, s.stream);
  std::vector<int32_t> history = s.prompt;
  const uint64_t h = next_++;
  seqs_.push_back(
      Seq{h, std::move(s), std::move(sampler), std::move(history), 0, {}, now_seconds(), -1});
  return h;
}

size_t DecodeBatch::decoding() const {
  size_t n = 0;
  for (const Seq& q : seqs_) n += q.fed == q.s.prompt.size();
  return n;
}

std::vector<std::pair<uint64_t, GenerateResult>> DecodeBatch::step() {
  std::vector<std::pair<uint64_t, GenerateResult>> done;
  if (seqs_.empty()) return done;
  const int64_t H = model_.config().hidden_size, V = model_.config().vocab_size;
  // Rows of this pass: one per decoding sequence (its last token), then prompt chunks in join
  // order while the prefill budget lasts (at least one row, so joining sequences always advance).
  std::vector<SeqSlice> slices;
  std::vector<size_t> member;  // slices[i] belongs to seqs_[member[i]]
  std::vector<int32_t> ids;
  for (size_t i = 0; i < seqs_.size(); ++i) {
    Seq& q = seqs_[i];
    if (q.fed < q.s.prompt.size()) continue;
    slices.push_back({int64_t(ids.size()), 1, q.s.cache});
    member.push_back(i);
    ids.push_back(q.history.back());
  }
  int64_t budget = prefill_rows_ > 0 ? prefill_rows_ : INT64_MAX;
  for (size_t i = 0; i < seqs_.size() && budget > 0; ++i) {
    Seq& q = seqs_[i];
    const int64_t left = int64_t(q.s.prompt.size() - q.fed);
    if (left == 0) continue;
    const int64_t take = std::min(left, budget);
    slices.push_back({int64_t(ids.size()), take, q.s.cache});
    member.push_back(i);
    ids.insert(ids.end(), q.s.prompt.begin() + std::ptrdiff_t(q.fed),
               q.s.prompt.begin() + std::ptrdiff_t(q.fed + size_t(take)));
    budget -= take;
  }
  const int64_t rows = int64_t(ids.size());
  Backend& be = model_.backend();
  // Sequences yielding a token: the decoding ones and those whose prompt ends in this pass.
  std::vector<int64_t> last;
  std::vector<size_t> yields;  // index into seqs_
  try {
    x_.ensure(be, be.act_bytes(rows * H));
    model_.embed(ids.data(), rows, x_.get());
    model_.forward(x_.get(), rows, slices);
    for (size_t k = 0; k < slices.size(); ++k) {
      Seq& q = seqs_[member[k]];
      if (q.fed < q.s.prompt.size()) q.fed += size_t(slices[k].count);
      if (q.fed == q.s.prompt.size()) {
        last.push_back(slices[k].begin + slices[k].count - 1);
        yields.push_back(member[k]);
      }
    }
    const int64_t n = int64_t(last.size());
    if (n > 0) {
      h_last_.ensure(be, be.act_bytes(n * H));
      be.gather_rows(x_.get(), H, last.data(), n, H, h_last_.get(), H);
      logits_.resize(size_t(n) * size_t(V));
      model_.logits(h_last_.get(), n, logits_.data());  // on the host: synchronous
    }
  } catch (...) {
    seqs_.clear();
    throw;
  }
  const double t = now_seconds();
  std::vector<bool> ended(seqs_.size(), false);
  for (size_t k = 0; k < yields.size(); ++k) {
    Seq& q = seqs_[yields[k]];
    GenerateResult& r = q.result;
    const GenerateParams& p = q.s.params;
    const int32_t tok = q.sampler.next(logits_.data() + k * size_t(V), V, q.history);
    if (q.first < 0) q.first = t;
    r.ids.push_back(tok);
    q.history.push_back(tok);
    const int64_t n = int64_t(r.ids.size());
    r.stopped = n > p.min_new_tokens &&
                std::find(p.stop_ids.begin(), p.stop_ids.end(), tok) != p.stop_ids.end();
    if (p.on_token && !p.on_token(q.s.index, tok)) r.cancelled = true;
    if (r.stopped || r.cancelled || n >= p.max_new_tokens) ended[yields[k]] = true;
  }
  std::vector<Seq> keep;
  for (size_t i = 0; i < seqs_.size(); ++i) {
    Seq& q = seqs_[i];
    if (!ended[i]) {
      keep.push_back(std::move(q));
      continue;
    }
    q.result.prompt_seconds = q.first - q.joined;
    q.result.decode_seconds = t - q.first;
    done.emplace_back(q.handle, std::move(q.result));
  }
  seqs_ = std::move(keep);
  return done;
}

}  // namespace rcc
