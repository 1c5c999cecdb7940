// Training data beyond passkey: token shards, text objectives, facts, bAbI-like stories,
// instruction rows, the question formats and the answer metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/error.h"
#include "tasks/babi.h"
#include "tasks/facts.h"
#include "tasks/haystack.h"
#include "tasks/instruction.h"
#include "tasks/metrics.h"
#include "tasks/qa_format.h"
#include "tasks/shards.h"
#include "tasks/tasks.h"
#include "tasks/text_tasks.h"
#include "test_util.h"

namespace rcc {
namespace {

// A corpus whose token at stream position p is p % 1000 (so spans are checkable).
std::string counting_shards(const test::TempDir& tmp) {
  std::vector<int32_t> a(3000), b(500);
  for (int i = 0; i < 3000; ++i) a[size_t(i)] = i % 1000;
  for (int i = 0; i < 500; ++i) b[size_t(i)] = (3000 + i) % 1000;
  test::write_file(tmp.file("vocab.json"), "x");
  write_shard(tmp.file("c-00000.rcctok"), a, 1000, 1, "h", "test");
  write_shard(tmp.file("c-00001.rcctok"), b, 1000, 1, "h", "test");
  return tmp.file("c*");
}

bool consecutive(const std::vector<int32_t>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] != (v[i - 1] + 1) % 1000) return false;
  return true;
}

TEST(TrainTasks, ShardsRoundTripAndValidate) {
  test::TempDir tmp;
  const std::vector<int32_t> small = {0, 5, 65535, 7}, big = {0, 70000, 3};
  write_shard(tmp.file("s.rcctok"), small, 65536, 2, "abc", "src");
  write_shard(tmp.file("b.rcctok"), big, 70001, 1, "abc", "src");
  const Shard s = Shard::open(tmp.file("s.rcctok")), b = Shard::open(tmp.file("b.rcctok"));
  EXPECT_EQ(s.info().token_bytes, 2);
  EXPECT_EQ(b.info().token_bytes, 4);
  EXPECT_EQ(s.info().documents, 2);
  EXPECT_EQ(s.info().codec_hash, "abc");
  std::vector<int32_t> got(4);
  s.read(0, 4, got.data());
  EXPECT_EQ(got, small);
  got.resize(3);
  b.read(0, 3, got.data());
  EXPECT_EQ(got, big);
  EXPECT_THROW(s.read(2, 3, got.data()), Error);
  EXPECT_THROW(write_shard(tmp.file("x.rcctok"), {5}, 5, 1, "", ""), Error);  // id >= vocab
  // A truncated or modified file is refused (checksum).
  std::string bytes = test::read_file(tmp.file("s.rcctok"));
  test::write_file(tmp.file("t.rcctok"), bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(Shard::open(tmp.file("t.rcctok")), Error);
  bytes[bytes.size() - 12] ^= 1;
  test::write_file(tmp.file("m.rcctok"), bytes);
  EXPECT_THROW(Shard::open(tmp.file("m.rcctok")), Error);
}

TEST(TrainTasks, ShardsRefuseTokenCountsThatOverflowOrExceedThePayload) {
  // Issue "hostile files": Shard::open checked payload_bytes == tokens x token_bytes with a product
  // that wraps modulo 2^64, so a shard claiming 2^62 u32 tokens (an empty payload) was accepted:
  // `rcc data info` reported 4.6e18 tokens and `rcc train` read out of bounds. The claim must be
  // refused, naming the file and the field.
  test::TempDir tmp;
  const char magic[8] = {'R', 'C', 'C', 'T', 'O', 'K', 'S', '\0'};
  write_shard(tmp.file("b.rcctok"), {0, 70000, 3}, 70001, 1, "abc", "src");  // u32 ids
  const std::string bad = tmp.file("bad.rcctok");
  auto refused = [&](const nlohmann::json& tokens, const std::optional<std::string>& payload) {
    test::rewrite_container(
        tmp.file("b.rcctok"), bad, magic, [&](nlohmann::json& h) { h["tokens"] = tokens; },
        payload);
    try {
      Shard::open(bad);
      ADD_FAILURE() << "accepted a shard claiming " << tokens.dump() << " tokens";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("'tokens'"), std::string::npos) << e.what();
    }
  };
  const int64_t big = int64_t(1) << 62;
  refused(big, std::string());     // 2^62 x 4 bytes: 0 modulo 2^64
  refused(big + 3, std::nullopt);  // wraps to the real payload's 12 bytes
  refused(4, std::nullopt);        // no overflow, more than the payload holds
  refused(-1, std::nullopt);
  refused(1.5, std::nullopt);
}

TEST(TrainTasks, CorpusSpansStayInsideShards) {
  test::TempDir tmp;
  const TokenCorpus c = TokenCorpus::open({counting_shards(tmp)});
  EXPECT_EQ(c.tokens(), 3500);
  EXPECT_EQ(c.largest_shard(), 3000);
  EXPECT_EQ(TokenCorpus::open({tmp.path()}).tokens(), 3500);  // a directory
  Rng rng(1);
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(consecutive(c.span(400, rng)));
  EXPECT_THROW(c.span(3001, rng), Error);  // no shard holds it
  EXPECT_THROW(TokenCorpus::open({tmp.file("none*")}), Error);
}

TEST(TrainTasks, TextObjectives) {
  test::TempDir tmp;
  const TokenCorpus c = TokenCorpus::open({counting_shards(tmp)});
  TextTaskConfig cfg;
  cfg.tokens = 50;
  Rng rng(2);
  const Sample lm = make_lm_sample(cfg, c, rng);
  EXPECT_TRUE(lm.context.empty());
  EXPECT_EQ(lm.tokens.size(), 51u);
  EXPECT_EQ(lm.weights[0], 0.0f);
  EXPECT_EQ(lm.target_weight(), 50.0);
  for (int i = 0; i < 50; ++i) {
    const Sample r = make_reconstruction_sample(cfg, c, 64, rng);
    ASSERT_EQ(r.context.size(), 64u);
    ASSERT_TRUE(consecutive(r.context));
    ASSERT_GE(r.tokens.size(), 32u);
    ASSERT_LE(r.tokens.size(), 64u);
    // The span is a piece of the context; its first 10–20 tokens are the unweighted cue.
    EXPECT_NE(std::search(r.context.begin(), r.context.end(), r.tokens.begin(), r.tokens.end()),
              r.context.end());
    int64_t cue = 0;
    while (r.weights[size_t(cue)] == 0.0f) ++cue;
    EXPECT_GE(cue, 10);
    EXPECT_LE(cue, 20);
    const Sample k = make_continuation_sample(cfg, c, 64, rng);
    ASSERT_EQ(k.context.size(), 64u);
    ASSERT_EQ(k.tokens.size(), 128u);
    EXPECT_EQ(k.tokens[0], (k.context.back() + 1) % 1000);  // what follows the context
    EXPECT_EQ(k.target_weight(), 128.0);
  }
  cfg.min_context = 100;
  cfg.max_context = 300;
  for (int i = 0; i < 20; ++i) {
    const Sample k = make_continuation_sample(cfg, c, 64, rng);
    EXPECT_GE(k.context.size(), 100u);
    EXPECT_LE(k.context.size(), 300u);
  }
}

TEST(TrainTasks, FactsQuestionsHaveOneSupportingFact) {
  std::vector<std::string> words = facts_words();
  const ChatTemplate chat;
  for (const auto& w : chat_words(chat)) words.push_back(w);
  const WordVocab v(words);
  FactsConfig c;
  c.facts = 5;
  c.min_tokens = 100;
  c.max_tokens = 150;
  Rng rng(4);
  for (int i = 0; i < 50; ++i) {
    const TaskExample e = make_facts(c, chat, v, rng);
    for (int32_t id : e.context) ASSERT_NE(id, 2) << "unknown word";
    // "The cat sits on the sofa." -> the supporting fact "The cat sat on the sofa." occurs once,
    // and no other sentence places that animal.
    const std::string text = v.decode(e.context);
    std::string fact = e.answer_text;
    fact.replace(fact.find(" sits "), 6, " sat ");
    const std::string norm = v.decode(v.encode(fact));
    EXPECT_EQ(text.find(norm), text.rfind(norm)) << text;
    ASSERT_NE(text.find(norm), std::string::npos);
    const std::string animal = e.answer_text.substr(4, e.answer_text.find(" sits") - 4);
    size_t mentions = 0;
    for (size_t p = text.find("The " + animal + " "); p != std::string::npos;
         p = text.find("The " + animal + " ", p + 1))
      ++mentions;
    EXPECT_EQ(mentions, 1u);
    EXPECT_GE(e.context.size(), 30u);
    EXPECT_LE(e.context.size(), 150u);
  }
  // Instruction reconstruction: the question is compressed; the answer regenerates it.
  c.mode = "ir";
  const TaskExample ir = make_facts(c, chat, v, rng);
  EXPECT_EQ(ir.prompt, v.encode(chat.preamble));
  const std::string q = v.decode(ir.answer);
  EXPECT_EQ(q.rfind("Where does the ", 0), 0u);
  EXPECT_NE(v.decode(ir.context).find("Where does the "), std::string::npos);
  // answer_of: the text after the marker.
  std::vector<int32_t> gen = ir.answer;
  gen.pop_back();  // eos
  EXPECT_EQ(normalize_answer(answer_of(gen, chat, v)), normalize_answer(ir.answer_text));
}

TEST(TrainTasks, BabiAnswersFollowTheStory) {
  std::vector<std::string> words = babi_words();
  for (const auto& w : chat_words(ChatTemplate{})) words.push_back(w);
  const WordVocab v(words);
  BabiConfig c;
  Rng rng(5);
  for (int i = 0; i < 100; ++i) {
    const TaskExample e = make_babi(c, ChatTemplate{}, v, rng);
    for (int32_t id : e.context) ASSERT_NE(id, 2);
    // Task 1: the last sentence naming the person names the answer room.
    const std::string story = v.decode(e.context), q = v.decode(e.prompt);
    const size_t at = q.find("Where is ") + 9;
    const std::string who = q.substr(at, q.find(' ', at) - at);
    const size_t last = story.rfind(who + " ");
    ASSERT_NE(last, std::string::npos);
    const std::string sentence = story.substr(last, story.find('.', last) - last);
    EXPECT_NE(sentence.find(e.answer_text), std::string::npos) << story << " | " << q;
  }
  c.two_facts = true;
  for (int i = 0; i < 50; ++i) {
    const TaskExample e = make_babi(c, ChatTemplate{}, v, rng);
    EXPECT_NE(v.decode(e.prompt).find("Where is the "), std::string::npos);
    EXPECT_NE(v.decode(e.context).find("picked up the"), std::string::npos);
  }
}

TEST(TrainTasks, BabiQuestionsFromTaskFiles) {
  // The real bAbI test split (Weston et al.): 1000 questions per task (200 stories of 5).
  const std::vector<BabiQuestion> qa1 =
      read_babi_file(test::data("babi/qa1_single-supporting-fact_test.txt.gz"));
  ASSERT_EQ(qa1.size(), 1000u);
  // Its first story (lines 1-3): "John travelled to the hallway." "Mary journeyed to the
  // bathroom." "Where is John? \thallway\t1".
  EXPECT_EQ(qa1[0].statements, (std::vector<std::string>{"John travelled to the hallway.",
                                                         "Mary journeyed to the bathroom."}));
  EXPECT_EQ(qa1[0].question, "Where is John?");
  EXPECT_EQ(qa1[0].answer, "hallway");
  EXPECT_EQ(qa1[1].statements.size(), 4u);  // statements accumulate through the story
  EXPECT_EQ(qa1[5].statements.size(), 2u);  // and restart with the next one
  const std::vector<BabiQuestion> qa2 =
      read_babi_file(test::data("babi/qa2_two-supporting-facts_test.txt.gz"));
  EXPECT_EQ(qa2.size(), 1000u);

  test::TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"nonumber.txt", "John went home.\n"},
      {"gap.txt", "1 John went to the garden.\n3 Where is John? \tgarden\t1\n"},
      {"noanswer.txt", "1 John went to the garden.\n2 Where is John?\t\t1\n"},
      {"empty.txt", "\n\n"}};
  for (const auto& [name, text] : bad) {
    test::write_file(tmp.file(name), text);
    try {
      read_babi_file(tmp.file(name));
      FAIL() << name << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(read_babi_file(tmp.file("absent.txt")), Error);

  // Through the task mixture: evaluation walks the questions in file order.
  std::vector<std::string> words = babi_words();
  for (const auto& w : chat_words(ChatTemplate{})) words.push_back(w);
  const WordVocab v(words);
  const TaskSpec spec = parse_task(
      {{"kind", "babi"}, {"data", test::data("babi/qa1_single-supporting-fact_test.txt.gz")}},
      "babi");
  const TaskMixer mix({spec}, v, RCCSettings{});
  EXPECT_EQ(mix.rows(0), 1000);
  Rng rng(7);
  const TaskExample e0 = mix.example(0, rng, 0);
  EXPECT_EQ(e0.answer_text, "hallway");
  EXPECT_EQ(v.decode(e0.context).find("John travelled to the hallway"), 0u);
  EXPECT_NE(v.decode(e0.prompt).find("Where is John"), std::string::npos);
  EXPECT_EQ(mix.example(0, rng, 2).answer_text, qa1[2].answer);
}

TEST(TrainTasks, PlacementInRealText) {
  Haystack h;
  for (int i = 0; i < 500; ++i) h.text.push_back(100 + i);
  h.min_tokens = h.max_tokens = 50;
  const std::vector<int32_t> piece = {1, 2, 3};
  Rng rng(6);
  h.min_depth = h.max_depth = 0;
  std::vector<int32_t> out = place_in_haystack(piece, h, rng);
  ASSERT_EQ(out.size(), 53u);
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + 3), piece);
  h.min_depth = h.max_depth = 1;
  out = place_in_haystack(piece, h, rng);
  EXPECT_EQ(std::vector<int32_t>(out.end() - 3, out.end()), piece);
  h.min_depth = h.max_depth = 0.5;
  out = place_in_haystack(piece, h, rng);
  EXPECT_EQ(std::vector<int32_t>(out.begin() + 25, out.begin() + 28), piece);
  EXPECT_EQ(out[28], out[24] + 1);  // the haystack continues where it was cut
  h.min_tokens = h.max_tokens = 501;
  EXPECT_THROW(place_in_haystack(piece, h, rng), Error);

  // Through the task mixture: facts inside a haystack of shard text, IR question at the very end.
  std::vector<std::string> words = facts_words();
  for (const auto& w : chat_words(ChatTemplate{})) words.push_back(w);
  words.push_back("filler");
  const WordVocab v(words);
  test::TempDir tmp;
  write_shard(tmp.file("hay.rcctok"), std::vector<int32_t>(3000, *v.id("filler")), v.vocab_size(),
              1, "h", "t");
  const TaskSpec spec = parse_task({{"kind", "facts"},
                                    {"facts", 2},
                                    {"min_tokens", 20},
                                    {"max_tokens", 30},
                                    {"mode", "ir"},
                                    {"haystack", tmp.file("hay.rcctok")},
                                    {"haystack_min_tokens", 200},
                                    {"haystack_max_tokens", 300},
                                    {"min_depth", 0.4},
                                    {"max_depth", 0.6}},
                                   "facts");
  const TaskMixer mix({spec}, v, RCCSettings{});
  const TaskExample e = mix.example(0, rng);
  EXPECT_GE(e.context.size(), 220u);
  const std::string text = v.decode(e.context);
  const size_t first_fact = text.find("The ");
  ASSERT_NE(first_fact, std::string::npos);
  EXPECT_GT(first_fact, text.size() / 4);  // placed inside, not at the start
  EXPECT_NE(text.rfind("Where does the "), std::string::npos);
  EXPECT_GT(text.rfind("Where does the "), text.rfind("filler"));  // the question comes last
}

TEST(TrainTasks, InstructionRowsFromPwC) {
  const std::vector<InstructionRow> rows =
      read_instruction_jsonl(test::data("pwc/PWC_eval_data.jsonl"));
  EXPECT_EQ(rows.size(), 19u);
  for (const auto& r : rows) EXPECT_FALSE(r.input.empty() || r.prompt.empty() || r.answer.empty());
  test::TempDir tmp;
  test::write_file(tmp.file("bad.jsonl"),
                   "{\"input\": \"a\", \"prompt\": \"b\", \"answer\": \"c\"}\n{oops\n");
  try {
    read_instruction_jsonl(tmp.file("bad.jsonl"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  test::write_file(tmp.file("missing.jsonl"), "{\"input\": \"a\", \"prompt\": \"b\"}\n");
  EXPECT_THROW(read_instruction_jsonl(tmp.file("missing.jsonl")), Error);
}

TEST(TrainTasks, Metrics) {
  EXPECT_EQ(normalize_answer("  The Cat, sits!  "), "the cat sits");
  EXPECT_DOUBLE_EQ(token_f1("the cat sat", "a cat sat down"),
                   2 * (1.0 * (2.0 / 3)) / (1 + 2.0 / 3));
  EXPECT_DOUBLE_EQ(token_f1("", ""), 1.0);
  EXPECT_DOUBLE_EQ(token_f1("dog", "cat"), 0.0);
  // LCS of "cat sat on mat" and "cat on the mat" (articles dropped: "cat on mat") is 3.
  EXPECT_DOUBLE_EQ(rouge_l("cat sat on mat", "cat on the mat"), 2 * 0.75 * 1.0 / 1.75);
  EXPECT_DOUBLE_EQ(bleu4({{1, 2, 3, 4, 5}}, {{1, 2, 3, 4, 5}}), 1.0);
  EXPECT_DOUBLE_EQ(bleu4({{9, 9, 9, 9}}, {{1, 2, 3, 4}}), 0.0);
  // Candidate 1 2 3 4 6 vs 1 2 3 4 5: precisions 4/5, 3/4, 2/3, 1/2; no brevity penalty.
  EXPECT_NEAR(bleu4({{1, 2, 3, 4, 6}}, {{1, 2, 3, 4, 5}}),
              std::pow(0.8 * 0.75 * (2.0 / 3) * 0.5, 0.25), 1e-12);
  // A short candidate is penalised: exp(1 - 6/5).
  EXPECT_NEAR(bleu4({{1, 2, 3, 4, 5}}, {{1, 2, 3, 4, 5, 6}}), std::exp(1 - 6.0 / 5), 1e-12);
}

}  // namespace
}  // namespace rcc
