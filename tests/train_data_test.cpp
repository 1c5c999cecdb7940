// Data for training: the random generator, the word-level vocabulary, the passkey generator and
// the task mixture.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "tasks/passkey.h"
#include "tasks/qa_format.h"
#include "tasks/rng.h"
#include "tasks/tasks.h"
#include "test_util.h"

namespace rcc {
namespace {

TEST(TrainData, RngIsDeterministicAndResumable) {
  Rng a(42), b(42), c(43);
  EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(a.next(), c.next());
  Rng d(7);
  for (int i = 0; i < 10; ++i) d.next();
  Rng e(0);
  e.set_state(d.state());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(d.next(), e.next());
  // below(n) covers [0, n) evenly enough (each of 10 values within ±20% of 1000 in 10000 draws).
  std::map<uint64_t, int> counts;
  for (int i = 0; i < 10000; ++i) ++counts[d.below(10)];
  ASSERT_EQ(counts.size(), 10u);
  for (auto& [v, n] : counts) EXPECT_NEAR(n, 1000, 200) << v;
  for (int i = 0; i < 1000; ++i) {
    const double u = d.uniform();
    EXPECT_TRUE(u >= 0 && u < 1);
    const int64_t r = d.range(-3, 3);
    EXPECT_TRUE(r >= -3 && r <= 3);
  }
}

TEST(TrainData, WordVocabularyRoundTrip) {
  WordVocab v({"the", "pass", "key", "is", "The"});
  EXPECT_EQ(v.eos(), 0);
  EXPECT_EQ(v.tokens()[0], "<eos>");
  // Digits and punctuation are single tokens; unknown words map to <unk> (2).
  const std::vector<int32_t> ids = v.encode("The pass key is 40312. zebra");
  ASSERT_EQ(ids.size(), 11u);
  EXPECT_EQ(ids[4], *v.id("4"));
  EXPECT_EQ(ids[8], *v.id("2"));
  EXPECT_EQ(ids[9], *v.id("."));
  EXPECT_EQ(ids[10], 2);
  EXPECT_EQ(v.decode(v.encode("The pass key is 40312.")), "The pass key is 4 0 3 1 2 .");
  test::TempDir tmp;
  v.save(tmp.file("vocab.json"));
  WordVocab w = WordVocab::load(tmp.file("vocab.json"));
  EXPECT_EQ(w.tokens(), v.tokens());
  test::write_file(tmp.file("bad.json"), R"({"format": "rcc-words", "tokens": ["a"]})");
  EXPECT_THROW(WordVocab::load(tmp.file("bad.json")), Error);
  EXPECT_THROW(WordVocab({"two words"}), Error);
}

TEST(TrainData, PasskeyExamples) {
  PasskeyConfig c;
  c.min_tokens = 100;
  c.max_tokens = 140;
  c.digits = 5;
  WordVocab v(passkey_words(c));
  Rng rng(1);
  std::set<std::string> keys;
  for (int i = 0; i < 200; ++i) {
    const TaskExample e = make_passkey(c, v, rng);
    ASSERT_GE(int64_t(e.context.size()), c.min_tokens);
    ASSERT_LE(int64_t(e.context.size()), c.max_tokens);
    ASSERT_EQ(e.answer_text.size(), 5u);
    EXPECT_NE(e.answer_text[0], '0');
    keys.insert(e.answer_text);
    // Every template word is known: no <unk> anywhere.
    for (int32_t id : e.context) ASSERT_NE(id, 2);
    for (int32_t id : e.prompt) ASSERT_NE(id, 2);
    // The key's digits appear in the context, twice (the needle states it twice), in order.
    const std::vector<int32_t> key = v.encode(e.answer_text);
    int found = 0;
    for (size_t p = 0; p + key.size() <= e.context.size(); ++p)
      found += std::equal(key.begin(), key.end(), e.context.begin() + int64_t(p));
    EXPECT_EQ(found, 2);
    // The answer is " key ." then eos, and to_sample puts the loss on it only.
    EXPECT_EQ(e.answer.back(), v.eos());
    const Sample s = to_sample(e);
    EXPECT_EQ(s.tokens.size(), e.prompt.size() + e.answer.size());
    EXPECT_EQ(s.target_weight(), double(e.answer.size()));
    EXPECT_EQ(s.weights[e.prompt.size() - 1], 0.0f);
  }
  EXPECT_GT(keys.size(), 190u);
  // Depth: min_depth = max_depth = 0 puts the needle first, 1 last.
  c.min_depth = c.max_depth = 0;
  TaskExample first = make_passkey(c, v, rng);
  EXPECT_EQ(first.context[0], *v.id("The"));
  EXPECT_EQ(first.context[1], *v.id("pass"));
  c.min_depth = c.max_depth = 1;
  TaskExample last = make_passkey(c, v, rng);
  EXPECT_EQ(last.context.back(), *v.id("."));
  EXPECT_EQ(last.context[last.context.size() - 2], *v.id("key"));
  // Same seed, same examples.
  Rng r1(9), r2(9);
  EXPECT_EQ(make_passkey(c, v, r1).context, make_passkey(c, v, r2).context);
}

TEST(TrainData, PasskeyInTheChatFormat) {
  // mode ir: the question is compressed after the context, the decoder prompt is the chat
  // preamble, the target regenerates the question, then answers "The pass key is KEY."
  PasskeyConfig c;
  c.min_tokens = c.max_tokens = 120;
  c.mode = "ir";
  const ChatTemplate chat;
  std::vector<std::string> words = passkey_words(c);
  for (const auto& w : chat_words(chat)) words.push_back(w);
  const WordVocab v(words);
  Rng rng(3);
  const TaskExample e = make_passkey(c, v, rng, nullptr, &chat);
  EXPECT_EQ(e.answer_text.size(), 5u);
  const std::string ctx = v.decode(e.context), target = v.decode(e.answer);
  // (the word-level vocabulary decodes with a space before punctuation)
  EXPECT_NE(ctx.rfind("What is the pass key"), std::string::npos) << ctx;
  EXPECT_GT(ctx.rfind("What is the pass key"), ctx.rfind("Remember"));
  EXPECT_NE(target.find("The pass key is " + std::string(1, e.answer_text[0])), std::string::npos)
      << target;
  for (int32_t id : e.context) ASSERT_NE(id, 2);
  for (int32_t id : e.answer) ASSERT_NE(id, 2);
  // manual: the question is in the decoder prompt instead; without a template: an error.
  c.mode = "manual";
  const TaskExample m = make_passkey(c, v, rng, nullptr, &chat);
  EXPECT_NE(v.decode(m.prompt).find("What is the pass key"), std::string::npos);
  EXPECT_THROW(make_passkey(c, v, rng), Error);
  EXPECT_THROW(parse_task({{"kind", "passkey"}, {"mode", "chat"}}, "p"), Error);
}

TEST(TrainData, MixerFollowsWeights) {
  nlohmann::json a = {{"kind", "passkey"}, {"weight", 3.0}, {"digits", 3}},
                 b = {{"kind", "passkey"}, {"weight", 1.0}, {"digits", 7}};
  std::vector<TaskSpec> tasks = {parse_task(a, "a"), parse_task(b, "b")};
  WordVocab v(task_words(tasks[0], {}));
  TaskMixer mix(tasks, v, RCCSettings{});
  Rng rng(3);
  int three = 0, n = 2000;
  for (int i = 0; i < n; ++i) three += mix.sample(rng).target_weight() == 3 + 2;  // 3 digits . eos
  EXPECT_NEAR(double(three) / n, 0.75, 0.04);
}

TEST(TrainData, LossWeightScalesTheSamplesOfItsTask) {
  nlohmann::json a = {{"kind", "passkey"}, {"weight", 1.0}, {"digits", 3}},
                 b = {{"kind", "passkey"}, {"weight", 1.0}, {"digits", 3}, {"loss_weight", 4.0}};
  std::vector<TaskSpec> tasks = {parse_task(a, "a"), parse_task(b, "b")};
  EXPECT_EQ(tasks[0].loss_weight, 1.0);
  EXPECT_EQ(tasks[1].loss_weight, 4.0);
  WordVocab v(task_words(tasks[0], {}));
  TaskMixer mix(tasks, v, RCCSettings{});
  Rng rng(5);
  int seen[2] = {0, 0};
  for (int i = 0; i < 200; ++i) {
    const Sample s = mix.sample(rng);
    ASSERT_TRUE(s.task == 0 || s.task == 1);
    ++seen[s.task];
    // 3 digits, ".", end of text: weight 1 each, times the task's loss_weight.
    EXPECT_EQ(s.target_weight(), s.task == 0 ? 5.0 : 20.0);
    for (float w : s.weights) EXPECT_TRUE(w == 0.0f || w == (s.task == 0 ? 1.0f : 4.0f));
  }
  EXPECT_GT(seen[0], 50);
  EXPECT_GT(seen[1], 50);
  for (double bad : {0.0, -1.0, 1e4})
    EXPECT_THROW(parse_task({{"kind", "passkey"}, {"loss_weight", bad}}, "p"), Error);
}

}  // namespace
}  // namespace rcc
