// Token selection (sample/sampler.h) and the generation loop's stopping rules (model/generate.h).
//
// Sampling is checked empirically: support (which tokens can ever come out) over thousands of
// draws, and frequencies against the exact distribution. The frequency tolerance is statistical:
// a count of N draws of a token with probability p is Binomial(N, p), standard deviation
// sqrt(N·p·(1-p)); we allow 5 standard deviations, so a correct sampler fails a given check with
// probability < 6e-7 (and the seeds are fixed, so a run is reproducible anyway).
#include "sample/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <vector>

#include "model/generate.h"
#include "model/load.h"
#include "test_util.h"

namespace rcc {
namespace {

using json = nlohmann::json;

// One draw from fresh logits (the sampler modifies them in place).
int32_t draw(Sampler& s, std::vector<float> logits, const std::vector<int32_t>& history = {}) {
  return s.next(logits.data(), int64_t(logits.size()), history);
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

std::map<int32_t, int> histogram(SamplingParams p, const std::vector<float>& logits, int n,
                                 const std::vector<int32_t>& history = {}) {
  Sampler s(p);
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) h[draw(s, logits, history)]++;
  return h;
}

// Counts within 5 standard deviations of N·p for every token (p = 0: never drawn).
void expect_frequencies(const std::map<int32_t, int>& h, const std::vector<double>& p, int n) {
  for (size_t t = 0; t < p.size(); ++t) {
    const int count = h.count(int32_t(t)) ? h.at(int32_t(t)) : 0;
    if (p[t] == 0) {
      EXPECT_EQ(count, 0) << "token " << t << " is outside the support";
      continue;
    }
    const double mean = n * p[t], sd = std::sqrt(n * p[t] * (1 - p[t]));
    EXPECT_LE(std::fabs(count - mean), 5 * sd) << "token " << t << ": " << count << " draws, "
                                               << "expected " << mean << " ± " << sd;
  }
}

std::vector<double> softmax(const std::vector<float>& l, double temperature = 1.0) {
  double mx = -INFINITY, sum = 0;
  for (float x : l) mx = std::max(mx, double(x) / temperature);
  std::vector<double> p;
  for (float x : l) sum += p.emplace_back(std::exp(double(x) / temperature - mx));
  for (double& x : p) x /= sum;
  return p;
}

// ---------------------------------------------------------------------------------------------

TEST(Sampler, GreedyIsArgmaxFirstOnTies) {
  Sampler s(SamplingParams{});
  EXPECT_EQ(draw(s, {0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(draw(s, {1.0f, 5.0f, 5.0f, 5.0f}), 1);  // ties: the first, as torch.argmax
  EXPECT_EQ(draw(s, {7.0f, 7.0f}), 0);
  EXPECT_EQ(draw(s, {-std::numeric_limits<float>::infinity(), -1e30f}), 1);
  EXPECT_EQ(draw(s, {42.0f}), 0);
  const float x[5] = {0, 0, 0, 0, 0};
  EXPECT_EQ(argmax(x, 5), 0);
}

TEST(Sampler, SeedReproducibleAndSeedsDiffer) {
  const std::vector<float> logits(50, 0.0f);  // uniform over 50 tokens
  auto sequence = [&](uint64_t seed, uint64_t stream) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = seed;
    Sampler s(p, stream);
    std::vector<int32_t> r;
    for (int i = 0; i < 40; ++i) r.push_back(draw(s, logits));
    return r;
  };
  EXPECT_EQ(sequence(1, 0), sequence(1, 0));
  EXPECT_EQ(sequence(12345, 3), sequence(12345, 3));
  // Two different sequences of 40 uniform draws from 50 agree by chance with probability 50^-40.
  EXPECT_NE(sequence(1, 0), sequence(2, 0));
  EXPECT_NE(sequence(1, 0), sequence(1, 1));                  // streams (batch members) differ too
  EXPECT_NE(sequence(uint64_t(1) << 32, 0), sequence(0, 0));  // the high seed bits count
}

TEST(Sampler, TopK1IsGreedy) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(37);
    for (float& x : logits) x = nd(rng);
    if (trial % 5 == 0) logits[3] = logits[20] = 100.0f;  // a tie for the top: first index
    SamplingParams p;
    p.temperature = 1.5f;
    p.top_k = 1;
    p.seed = uint64_t(trial);
    Sampler s(p);
    const int32_t want = argmax(logits.data(), int64_t(logits.size()));
    for (int i = 0; i < 20; ++i) ASSERT_EQ(draw(s, logits), want) << "trial " << trial;
  }
}

TEST(Sampler, TopKRestrictsSupportAndRenormalises) {
  // Logits chosen so that the top 3 are tokens 4, 1, 6.
  const std::vector<float> logits = {0.0f, 2.0f, -1.0f, 0.5f, 2.5f, -3.0f, 1.5f, 1.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 3;
  const int n = 20000;
  auto h = histogram(p, logits, n);
  std::vector<double> want(logits.size(), 0.0);
  double z = std::exp(2.5) + std::exp(2.0) + std::exp(1.5);
  want[4] = std::exp(2.5) / z, want[1] = std::exp(2.0) / z, want[6] = std::exp(1.5) / z;
  expect_frequencies(h, want, n);
  // top_k at or above the vocabulary size is no restriction.
  p.top_k = 8;
  expect_frequencies(histogram(p, logits, n), softmax(logits), n);
  p.top_k = 1000;
  expect_frequencies(histogram(p, logits, n), softmax(logits), n);
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  const std::vector<float> logits = log_probs({0.2, 0.5, 0.3});  // sorted: 1 (.5), 2 (.3), 0 (.2)
  SamplingParams p;
  p.temperature = 1.0f;
  const int n = 20000;
  p.top_p = 0.6f;  // .5 < .6 <= .8: tokens 1 and 2, renormalised to 5/8, 3/8
  expect_frequencies(histogram(p, logits, n), {0.0, 0.625, 0.375}, n);
  p.top_p = 0.4f;  // the first token alone reaches .4
  expect_frequencies(histogram(p, logits, n), {0.0, 1.0, 0.0}, n);
  p.top_p = 0.85f;  // needs all three
  expect_frequencies(histogram(p, logits, n), {0.2, 0.5, 0.3}, n);
  p.top_p = 1.0f;  // off
  expect_frequencies(histogram(p, logits, n), {0.2, 0.5, 0.3}, n);
  // top-k first, then top-p on the renormalised top-k distribution (Hugging Face order): top-2
  // gives 5/8, 3/8; p = 0.6 is reached by the first alone.
  p.top_k = 2;
  p.top_p = 0.6f;
  expect_frequencies(histogram(p, logits, n), {0.0, 1.0, 0.0}, n);
}

TEST(Sampler, TemperatureOneMatchesSoftmax) {
  // 20000 draws over 6 tokens whose probabilities range from 0.6% to 46%.
  const std::vector<float> logits = {1.0f, 3.0f, -1.0f, 2.2f, 0.0f, 2.9f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 77;
  const int n = 20000;
  expect_frequencies(histogram(p, logits, n), softmax(logits), n);
  // Temperature scales logits: T = 0.5 sharpens, T = 3 flattens.
  p.temperature = 0.5f;
  expect_frequencies(histogram(p, logits, n), softmax(logits, 0.5), n);
  p.temperature = 3.0f;
  expect_frequencies(histogram(p, logits, n), softmax(logits, 3.0), n);
}

TEST(Sampler, NegativeInfinityLogitsAreNeverDrawn) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {ninf, 0.0f, ninf, 0.0f, ninf};
  SamplingParams p;
  p.temperature = 1.0f;
  expect_frequencies(histogram(p, logits, 4000), {0, 0.5, 0, 0.5, 0}, 4000);
}

TEST(Sampler, RepetitionPenaltyAsHuggingFace) {
  // HF RepetitionPenaltyLogitsProcessor: for each token in the history, a positive logit is divided
  // by the penalty, a negative one multiplied; other tokens are untouched; repeats count once.
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p);
  std::vector<float> logits = {4.0f, -1.0f, 3.0f, 0.0f, 2.5f, -0.5f};
  const std::vector<int32_t> history = {0, 1, 0, 0, 3, 5, 99 /* out of range: ignored */, -1};
  std::vector<float> l = logits;
  const int32_t got = s.next(l.data(), int64_t(l.size()), history);
  EXPECT_EQ(l, (std::vector<float>{2.0f, -2.0f, 3.0f, 0.0f, 2.5f, -1.0f}));
  EXPECT_EQ(got, 2);  // greedy after the penalty: 3.0 now beats the halved 4.0
  // Without the history, no change.
  l = logits;
  EXPECT_EQ(s.next(l.data(), int64_t(l.size()), {}), 0);
  EXPECT_EQ(l, logits);
  // A penalty below 1 encourages repeats by the same rule: -1 · 0.5 = -0.5, 2.5 / 0.5 = 5.
  SamplingParams q;
  q.repetition_penalty = 0.5f;
  Sampler s2(q);
  l = logits;
  s2.next(l.data(), int64_t(l.size()), {1, 4});
  EXPECT_EQ(l[1], -0.5f);
  EXPECT_EQ(l[4], 5.0f);
}

TEST(Sampler, RepetitionPenaltyAppliesBeforeSampling) {
  // Two equal logits; penalising token 0 (2 → 1) makes the distribution softmax(1, 2).
  SamplingParams p;
  p.temperature = 1.0f;
  p.repetition_penalty = 2.0f;
  const int n = 20000;
  expect_frequencies(histogram(p, {2.0f, 2.0f}, n, {0}), softmax({1.0f, 2.0f}), n);
}

TEST(Sampler, InvalidParamsThrow) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto bad = [](auto set) {
    SamplingParams p;
    set(p);
    EXPECT_THROW(p.validate(), Error);
    EXPECT_THROW(Sampler{p}, Error);
  };
  bad([](SamplingParams& p) { p.temperature = -1.0f; });
  bad([&](SamplingParams& p) { p.temperature = nan; });
  bad([&](SamplingParams& p) { p.temperature = inf; });
  bad([](SamplingParams& p) { p.top_k = -1; });
  bad([](SamplingParams& p) { p.top_p = 0.0f; });
  bad([](SamplingParams& p) { p.top_p = 1.5f; });
  bad([&](SamplingParams& p) { p.top_p = nan; });
  bad([](SamplingParams& p) { p.repetition_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.repetition_penalty = -2.0f; });
  bad([&](SamplingParams& p) { p.repetition_penalty = nan; });
  bad([&](SamplingParams& p) { p.repetition_penalty = inf; });
  SamplingParams ok;
  ok.temperature = 0.7f, ok.top_k = 5, ok.top_p = 0.9f, ok.repetition_penalty = 1.3f;
  EXPECT_NO_THROW(ok.validate());
}

TEST(Sampler, ExtremeTemperaturesAndInfiniteLogits) {
  const float inf = std::numeric_limits<float>::infinity();
  SamplingParams p;
  p.temperature = 1e-38f;  // logits / T would overflow f32; the limit is greedy
  p.seed = 3;
  Sampler s(p);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(draw(s, {10.0f, 30.0f, 20.0f, -5.0f}), 1);
  p.temperature = 1e6f;  // nearly uniform
  const int n = 20000;
  expect_frequencies(histogram(p, {1.0f, 2.0f, 3.0f}, n), softmax({1.0f, 2.0f, 3.0f}, 1e6), n);
  p.temperature = 1.0f;  // a +inf logit is certain; all -inf is uniform rather than undefined
  expect_frequencies(histogram(p, {0.0f, inf, 5.0f}, 1000), {0, 1, 0}, 1000);
  expect_frequencies(histogram(p, {-inf, -inf}, n), {0.5, 0.5}, n);
}

TEST(Sampler, NanLogitsAreAnErrorNotACrash) {
  // NaN breaks the ordering that sorting needs; the sampler must refuse rather than misbehave.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> logits(1000, 0.0f);
  for (size_t i = 0; i < logits.size(); i += 3) logits[i] = nan;
  SamplingParams p;
  p.temperature = 1.0f;
  Sampler s(p);
  EXPECT_THROW(draw(s, logits), Error);
  p.top_k = 10;
  Sampler s2(p);
  EXPECT_THROW(draw(s2, logits), Error);
  Sampler greedy(SamplingParams{});  // argmax would silently skip NaNs
  EXPECT_THROW(draw(greedy, logits), Error);
}

// ---------------------------------------------------------------------------------------------
// generate(): stopping rules, on the parallel-f32 fixture (greedy ids recorded from Hugging Face).

class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = test::fixture("gptneox/parallel-f32");
    model_ = new Transformer(load_model(dir));
    json e = json::parse(test::read_file(dir + "/expected.json"));
    prompt_ = e["prompt_ids"].get<std::vector<int32_t>>();
    greedy_ = e["greedy_ids"].get<std::vector<int32_t>>();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static Transformer* model_;
  static std::vector<int32_t> prompt_, greedy_;
};
Transformer* Generate::model_ = nullptr;
std::vector<int32_t> Generate::prompt_, Generate::greedy_;

std::vector<int32_t> prefix(const std::vector<int32_t>& v, size_t n) {
  return std::vector<int32_t>(v.begin(), v.begin() + int64_t(n));
}

TEST_F(Generate, FixtureGreedy) {
  ASSERT_EQ(greedy_.size(), 16u);
  GenerateParams gp;
  gp.max_new_tokens = 16;
  GenerateResult r = generate(*model_, prompt_, gp);
  EXPECT_EQ(r.ids, greedy_);
  EXPECT_FALSE(r.stopped);
}

TEST_F(Generate, StopIdEndsGenerationAndIsKept) {
  // The stop id is the 4th greedy token, which does not occur earlier.
  const int32_t stop = greedy_[3];
  ASSERT_EQ(std::count(greedy_.begin(), greedy_.begin() + 3, stop), 0);
  GenerateParams gp;
  gp.max_new_tokens = 16;
  gp.stop_ids = {999999, stop};
  GenerateResult r = generate(*model_, prompt_, gp);
  EXPECT_EQ(r.ids, prefix(greedy_, 4));
  EXPECT_TRUE(r.stopped);
  // Stopping on the very first token.
  gp.stop_ids = {greedy_[0]};
  r = generate(*model_, prompt_, gp);
  EXPECT_EQ(r.ids, prefix(greedy_, 1));
  EXPECT_TRUE(r.stopped);
}

TEST_F(Generate, MinNewTokensSuppressesEarlierStops) {
  // Stop ids are not tested while fewer than min_new_tokens tokens exist before the candidate
  // (i.e. the (min+1)-th token is the first that may stop, as with Hugging Face's min_new_tokens,
  // which masks the stop id for the first min_new_tokens tokens).
  const int32_t stop = greedy_[3];  // the 4th token
  ASSERT_EQ(std::count(greedy_.begin(), greedy_.end(), stop), 1);
  GenerateParams gp;
  gp.max_new_tokens = 16;
  gp.stop_ids = {stop};
  gp.min_new_tokens = 3;  // the 4th token may stop
  EXPECT_EQ(generate(*model_, prompt_, gp).ids, prefix(greedy_, 4));
  gp.min_new_tokens = 4;  // the 4th token may not: runs to max_new_tokens
  GenerateResult r = generate(*model_, prompt_, gp);
  EXPECT_EQ(r.ids, greedy_);
  EXPECT_FALSE(r.stopped);
  gp.min_new_tokens = 100;  // larger than max_new_tokens: never stops
  EXPECT_EQ(generate(*model_, prompt_, gp).ids, greedy_);
}

TEST_F(Generate, MaxNewTokens) {
  GenerateParams gp;
  gp.max_new_tokens = 0;
  GenerateResult r = generate(*model_, prompt_, gp);
  EXPECT_TRUE(r.ids.empty());
  EXPECT_FALSE(r.stopped);
  gp.max_new_tokens = 1;
  EXPECT_EQ(generate(*model_, prompt_, gp).ids, prefix(greedy_, 1));
  gp.max_new_tokens = 5;
  EXPECT_EQ(generate(*model_, prompt_, gp).ids, prefix(greedy_, 5));
  gp.max_new_tokens = -1;
  EXPECT_THROW(generate(*model_, prompt_, gp), Error);
}

TEST_F(Generate, SamplingIsReproducibleAndValid) {
  GenerateParams gp;
  gp.max_new_tokens = 12;
  gp.sampling.temperature = 1.0f;
  gp.sampling.top_k = 50;
  gp.sampling.top_p = 0.95f;
  gp.sampling.repetition_penalty = 1.2f;
  gp.sampling.seed = 9;
  GenerateResult a = generate(*model_, prompt_, gp), b = generate(*model_, prompt_, gp);
  EXPECT_EQ(a.ids, b.ids);
  ASSERT_EQ(a.ids.size(), 12u);
  for (int32_t t : a.ids) EXPECT_TRUE(t >= 0 && t < model_->config().vocab_size);
  gp.sampling.seed = 10;
  EXPECT_NE(generate(*model_, prompt_, gp).ids, a.ids);
}

TEST_F(Generate, BadPromptsAreErrors) {
  GenerateParams gp;
  EXPECT_THROW(generate(*model_, std::vector<int32_t>{}, gp), Error);
  try {
    generate(*model_, std::vector<int32_t>{1, 1000}, gp);  // vocabulary is [0, 1000)
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 1000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generate(*model_, std::vector<int32_t>{-1}, gp), Error);
}

}  // namespace
}  // namespace rcc
