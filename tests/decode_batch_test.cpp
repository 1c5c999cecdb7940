// Batched decoding (model/decode_batch.h) and shared prefix caches (KVCache::continuing) on the
// CPU, on the Hugging Face reference fixtures (tests/reference/make_gptneox_fixtures.py).
//
// Tolerances: a sequence in a batch must give the *same bits* as that sequence alone (final hidden
// states compared with memcmp, ids equal): passes of up to 64 rows compute every row with the
// same arithmetic whatever the other rows (ops/rowwise_gemm.h), and attention is per sequence or
// row-independent. (Prompts fed in different chunks round differently inside their own attention
// — sgemm over the chunk's rows — so the chunked test compares ids.) A continued prefix against a
// plain cache holding the same positions differs only in the summation order of attention (two key
// segments instead of one): 1e-5 relative on the logits, as CachedDecodingEqualsRecomputation
// allows for the same reason.
#include "model/decode_batch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "model/generate.h"
#include "model/load.h"
#include "test_util.h"

namespace rcc {
namespace {

struct Fixture {
  Transformer model;
  std::vector<int32_t> prompt;
};

Fixture load(const std::string& name) {
  const std::string dir = test::fixture("gptneox/" + name);
  auto expected = nlohmann::json::parse(test::read_file(dir + "/expected.json"));
  return {load_model(dir), expected["prompt_ids"].get<std::vector<int32_t>>()};
}

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t begin, size_t n) {
  return std::vector<int32_t>(v.begin() + std::ptrdiff_t(begin),
                              v.begin() + std::ptrdiff_t(begin + n));
}

// Final hidden states [rows, H] of one forward pass of `feeds` (one slice per cache).
std::vector<float> pass(const Transformer& m, const std::vector<KVCache*>& caches,
                        const std::vector<std::vector<int32_t>>& feeds) {
  std::vector<SeqSlice> seqs;
  std::vector<int32_t> ids;
  for (size_t i = 0; i < feeds.size(); ++i) {
    seqs.push_back({int64_t(ids.size()), int64_t(feeds[i].size()), caches[i]});
    ids.insert(ids.end(), feeds[i].begin(), feeds[i].end());
  }
  const int64_t H = m.config().hidden_size, rows = int64_t(ids.size());
  std::vector<float> x(size_t(rows * H));
  m.embed(ids.data(), rows, x.data());
  m.forward(x.data(), rows, seqs);
  return x;
}

class DecodeBatchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeBatchTest, RowsInABatchHaveTheBitsOfTheirSequenceAlone) {
  // Five sequences of different lengths, three continuing one shared prefix (of different tail
  // lengths), two with plain caches; then one decoding step of all five. Every row of both passes
  // equals, bit for bit, the same sequence's pass alone.
  Fixture f = load(GetParam());
  const Transformer& m = f.model;
  const int64_t H = m.config().hidden_size;
  KVCache prefix = m.new_cache();
  pass(m, {&prefix}, {slice(f.prompt, 0, 9)});
  auto make = [&](int k) { return k < 3 ? KVCache::continuing(prefix) : m.new_cache(); };
  const std::vector<std::vector<int32_t>> first = {slice(f.prompt, 9, 4), slice(f.prompt, 10, 1),
                                                   slice(f.prompt, 2, 7), slice(f.prompt, 0, 11),
                                                   slice(f.prompt, 5, 3)};
  const std::vector<std::vector<int32_t>> second = {{7}, {19}, {3}, {42}, {5}};
  std::vector<KVCache> batch, alone;
  for (int k = 0; k < 5; ++k) {
    batch.push_back(make(k));
    alone.push_back(make(k));
  }
  std::vector<KVCache*> bp;
  for (auto& c : batch) bp.push_back(&c);
  for (const auto* feeds : {&first, &second}) {
    const std::vector<float> together = pass(m, bp, *feeds);
    int64_t row = 0;
    for (size_t k = 0; k < 5; ++k) {
      const std::vector<float> own = pass(m, {&alone[k]}, {(*feeds)[k]});
      EXPECT_EQ(std::memcmp(own.data(), together.data() + row * H, own.size() * 4), 0)
          << "sequence " << k << " of the batch differs from it alone";
      row += int64_t((*feeds)[k].size());
    }
  }
  EXPECT_EQ(batch[0].length(), 9 + 4 + 1);
  EXPECT_EQ(batch[0].prefix_length(), 9);
}

TEST_P(DecodeBatchTest, ContinuedPrefixEqualsAPlainCache) {
  Fixture f = load(GetParam());
  const Transformer& m = f.model;
  KVCache prefix = m.new_cache(), plain = m.new_cache();
  m.forward_logits(slice(f.prompt, 0, 10), prefix);
  m.forward_logits(slice(f.prompt, 0, 10), plain);
  {  // a prompt of several rows after the prefix
    KVCache t2 = KVCache::continuing(prefix), p2 = plain;
    EXPECT_LE(test::norm_rel_error(m.forward_logits(slice(f.prompt, 10, 9), t2),
                                   m.forward_logits(slice(f.prompt, 10, 9), p2)),
              1e-5);
  }
  KVCache tail = KVCache::continuing(prefix);
  for (size_t k = 10; k < 14; ++k) {
    const std::vector<float> a = m.forward_logits({f.prompt[k]}, tail);
    const std::vector<float> b = m.forward_logits({f.prompt[k]}, plain);
    EXPECT_LE(test::norm_rel_error(a, b), 1e-5) << "position " << k;
  }
  // The prefix is untouched and held once: the tail stores its own 4 positions only.
  EXPECT_EQ(prefix.length(), 10);
  EXPECT_EQ(tail.length(), 14);
  EXPECT_LT(tail.bytes(), plain.bytes());
  EXPECT_THROW(tail.truncate(9), Error);  // positions of the prefix are not the tail's to drop
  KVCache copy = tail;                    // a copy keeps sharing the prefix
  EXPECT_EQ(copy.prefix(), &prefix);
  EXPECT_EQ(copy.length(), 14);
}

TEST_P(DecodeBatchTest, ContinuousBatchingEqualsEachSequenceAlone) {
  // Sequences join at different steps, with prompts fed in chunks of 3 rows across the joining
  // sequences, each with its own token limit, stop ids and sampling; every one generates what it
  // generates alone (one sequence, whole prompt at once).
  Fixture f = load(GetParam());
  const Transformer& m = f.model;
  KVCache prefix = m.new_cache();
  pass(m, {&prefix}, {slice(f.prompt, 0, 6)});
  struct Spec {
    std::vector<int32_t> prompt;
    GenerateParams gp;
    int join_at;
    bool shared;
  };
  std::vector<Spec> specs(6);
  for (size_t i = 0; i < specs.size(); ++i) {
    Spec& s = specs[i];
    s.prompt = slice(f.prompt, i, 2 + 2 * i);
    s.gp.max_new_tokens = 3 + int64_t(i);
    s.join_at = int(i % 3) * 2;
    s.shared = i % 2 == 0;
    if (i == 1 || i == 4) {
      s.gp.sampling.temperature = 0.9f;
      s.gp.sampling.top_k = 20;
      s.gp.sampling.seed = 100 + i;
    }
  }
  // Alone, first: ids it generates and, for one sequence, a stop id taken from them.
  auto alone = [&](const Spec& s) {
    KVCache c = s.shared ? KVCache::continuing(prefix) : m.new_cache();
    return generate(m, {&c}, {s.prompt}, s.gp)[0].ids;
  };
  {
    const std::vector<int32_t> ids = alone(specs[2]);
    ASSERT_GE(ids.size(), 3u);
    specs[2].gp.stop_ids = {ids[1]};
  }
  std::vector<std::vector<int32_t>> want;
  for (const Spec& s : specs) want.push_back(alone(s));
  EXPECT_LE(want[2].size(), 2u);  // ended on its stop id

  DecodeBatch batch(m, /*prefill_rows=*/3);
  std::vector<KVCache> caches;
  for (const Spec& s : specs)
    caches.push_back(s.shared ? KVCache::continuing(prefix) : m.new_cache());
  std::map<uint64_t, size_t> which;
  std::vector<std::vector<int32_t>> got(specs.size());
  size_t max_size = 0;
  for (int step = 0; step < 100 && (step <= 4 || !batch.empty()); ++step) {
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i].join_at == step)
        which[batch.add({&caches[i], specs[i].prompt, specs[i].gp, i, 0})] = i;
    max_size = std::max(max_size, batch.size());
    for (auto& [h, r] : batch.step()) got[which.at(h)] = r.ids;
  }
  EXPECT_TRUE(batch.empty());
  EXPECT_GE(max_size, 4u);
  for (size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(got[i], want[i]) << "sequence " << i;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecodeBatchTest,
                         ::testing::Values("parallel-f32", "serial-bf16", "sharded-f32"));

TEST(DecodeBatch, RefusesBadSequences) {
  Fixture f = load("parallel-f32");
  DecodeBatch batch(f.model, 4);
  KVCache c = f.model.new_cache();
  GenerateParams gp;
  EXPECT_THROW(batch.add({&c, {}, gp, 0, 0}), Error);  // empty prompt
  EXPECT_THROW(batch.add({&c, {int32_t(f.model.config().vocab_size)}, gp, 0, 0}), Error);
  EXPECT_THROW(batch.add({nullptr, {1}, gp, 0, 0}), Error);
  gp.max_new_tokens = 0;
  EXPECT_THROW(batch.add({&c, {1}, gp, 0, 0}), Error);
  EXPECT_TRUE(batch.empty());
  EXPECT_THROW(DecodeBatch(f.model, -1), Error);
}

}  // namespace
}  // namespace rcc
