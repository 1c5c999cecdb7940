// The byte-level BPE trainer (src/tokenizer/bpe_trainer.h): parity with Hugging Face tokenizers'
// BpeTrainer (fixtures from tests/reference/make_bpe_trainer_fixtures.mjs), the tokenizer.json it
// writes, round trips, determinism, errors and `rcc data train-tokenizer`.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/thread_pool.h"
#include "test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using tok::BpeTrainerOptions;
using tok::BpeTrainResult;
using tok::WordCounts;

const std::string& corpus() {
  static const std::string c =
      test::read_maybe_gz(test::fixture("tokenizer/bpe_train_corpus.txt.gz"));
  return c;
}

std::vector<std::string> heldout() {
  return test::split_on(test::read_maybe_gz(test::fixture("tokenizer/bpe_heldout.txt.gz")), '\x1e');
}

BpeTrainResult train_text(const std::string& text, int64_t vocab, int64_t min_freq) {
  WordCounts counts;
  tok::count_words(text, counts);
  BpeTrainerOptions o;
  o.vocab_size = vocab;
  o.min_frequency = min_freq;
  return tok::train_bpe(counts, o);
}

std::vector<std::string> merge_strings(const BpeTrainResult& r) {
  std::vector<std::string> out;
  for (const auto& m : r.merges) out.push_back(r.vocab[m.left] + " " + r.vocab[m.right]);
  return out;
}

// The example of Hugging Face's own trainer test (trainer.rs, test_train): with min_frequency 2
// the merges are "r e", "a re", "i s".
TEST(BpeTrainer, HuggingFaceUnitExample) {
  WordCounts c;
  for (auto [w, n] : std::vector<std::pair<const char*, int>>{{"roses", 1},
                                                              {"are", 2},
                                                              {"red", 1},
                                                              {"voilets", 1},
                                                              {"blue", 1},
                                                              {"BERT", 1},
                                                              {"is", 2},
                                                              {"big", 1},
                                                              {"and", 1},
                                                              {"so", 1},
                                                              {"GPT-2", 1}})
    c.add(w, uint64_t(n));
  BpeTrainerOptions o;
  o.vocab_size = 1000;
  o.min_frequency = 2;
  const BpeTrainResult r = tok::train_bpe(c, o);
  EXPECT_EQ(merge_strings(r), (std::vector<std::string>{"r e", "a re", "i s"}));
  EXPECT_EQ(r.vocab.size(), 258u + 3);
  EXPECT_EQ(r.vocab[258], "re");
  EXPECT_EQ(r.vocab[260], "is");
  EXPECT_EQ(r.merges[0].count, 3u);  // "are" x2 + "red"
}

TEST(BpeTrainer, IdsSpecialsThenAlphabetByCodePoint) {
  const BpeTrainResult r = train_text("hello hello world\n", 258, 2);
  ASSERT_EQ(r.vocab.size(), 258u);
  EXPECT_EQ(r.vocab[0], "<|endoftext|>");
  EXPECT_EQ(r.vocab[1], "<|padding|>");
  EXPECT_EQ(r.vocab[2], "!");
  EXPECT_EQ(r.vocab[2 + 94], "\xC2\xA1");                // U+00A1 follows '~'
  EXPECT_EQ(r.vocab[257], tok::bytes_to_token("\xAD"));  // U+0143, the last one
  EXPECT_TRUE(r.merges.empty());
}

// Merges and ids of rcc's trainer equal those of HF's for the whole run (min_frequency 0, until
// no pair is left: 20,330 merges on the 309 KB corpus).
TEST(BpeTrainer, ParityWithHuggingFaceFullRun) {
  const std::vector<std::string> expected = [] {
    auto lines = test::split_on(
        test::read_maybe_gz(test::fixture("tokenizer/bpe_trainer_full_merges.txt.gz")), '\n');
    lines.pop_back();
    return lines;
  }();
  ASSERT_EQ(expected.size(), 20330u);
  const BpeTrainResult r = train_text(corpus(), tok::kMaxBpeVocabSize, 0);
  const std::vector<std::string> got = merge_strings(r);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], expected[i]) << "merge " << i;
  EXPECT_EQ(r.vocab.size(), 258u + expected.size());
  EXPECT_EQ(r.merges.back().count, 1u);
}

class BpeTrainerParity : public ::testing::TestWithParam<int> {};

// The tokenizer.json for vocab_size V, min_frequency 2: same vocabulary (ids) and merges as HF's,
// and HF's ids for the held-out texts.
TEST_P(BpeTrainerParity, VocabMergesAndHeldOutIds) {
  const int V = GetParam();
  const std::string name = "tokenizer/bpe_trainer_v" + std::to_string(V);
  const json want = json::parse(test::read_maybe_gz(test::fixture(name + ".json.gz")));
  const BpeTrainResult r = train_text(corpus(), V, 2);
  ASSERT_EQ(r.vocab.size(), size_t(V));  // min_frequency 2 did not stop it early
  const std::string text = tok::bpe_tokenizer_json(r);
  const json got = json::parse(text);
  EXPECT_EQ(got["model"]["vocab"], want["model"]["vocab"]);
  EXPECT_EQ(got["model"]["merges"], want["model"]["merges"]);
  EXPECT_EQ(got, want);  // the whole file, layout included

  const Tokenizer t = Tokenizer::from_json(text, name);
  EXPECT_EQ(t.vocab_size(), V);
  const std::vector<std::string> held = heldout();
  auto lines = test::split_on(test::read_maybe_gz(test::fixture(name + "_heldout.jsonl.gz")), '\n');
  lines.pop_back();
  ASSERT_EQ(lines.size(), held.size());
  for (size_t i = 0; i < held.size(); ++i) {
    const std::vector<int32_t> ids = t.encode(held[i]);
    EXPECT_EQ(json(ids), json::parse(lines[i])) << "held-out chunk " << i;
    EXPECT_EQ(t.decode(ids), nfc_normalize(held[i])) << "held-out chunk " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, BpeTrainerParity, ::testing::Values(300, 1000, 4000));

TEST(BpeTrainer, DeterministicAcrossRunsAndThreads) {
  const std::string text = corpus().substr(0, 120000);
  BpeTrainerOptions o;
  o.vocab_size = 1500;
  std::string first;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    WordCounts c;
    tok::count_words_parallel(std::string(text) + text + text + text + text + text + text + text +
                                  text,  // > 1 MB, so the text is split between threads
                              c);
    const std::string j = tok::bpe_tokenizer_json(tok::train_bpe(c, o));
    if (first.empty()) first = j;
    EXPECT_EQ(j, first) << threads << " threads";
  }
  set_num_threads(2);
}

TEST(BpeTrainer, MergesAreWellFormed) {
  const BpeTrainResult r = train_text(corpus(), 3000, 2);
  ASSERT_EQ(r.vocab.size(), 3000u);
  ASSERT_EQ(r.merges.size(), 3000u - 258);
  std::set<std::string> seen(r.vocab.begin(), r.vocab.end());
  EXPECT_EQ(seen.size(), r.vocab.size()) << "duplicate token strings";
  uint64_t prev_count = UINT64_MAX;
  for (size_t i = 0; i < r.merges.size(); ++i) {
    const auto& m = r.merges[i];
    ASSERT_LT(m.left, m.merged);
    ASSERT_LT(m.right, m.merged);
    ASSERT_GE(m.left, 2);
    ASSERT_GE(m.right, 2);
    EXPECT_EQ(r.vocab[m.merged], r.vocab[m.left] + r.vocab[m.right]);
    EXPECT_EQ(m.merged, int32_t(258 + i));
    EXPECT_LE(m.count, prev_count) << "merge " << i;  // greedy: counts never increase
    EXPECT_GE(m.count, 2u);
    prev_count = m.count;
  }
}

TEST(BpeTrainer, RoundTripsWikitextAndGoldenInputs) {
  const Tokenizer t = Tokenizer::from_json(tok::bpe_tokenizer_json(train_text(corpus(), 2000, 2)));
  const std::string wiki = test::read_text(test::data("text/wikitext-2-test.txt.gz"));
  size_t chunks = 0;
  for (size_t p = 0; p < wiki.size(); p += 7919, ++chunks) {
    const std::string s = wiki.substr(p, 7919);
    if (!tok::utf8::is_valid(s)) continue;  // cut inside a character
    ASSERT_EQ(t.decode(t.encode(s)), nfc_normalize(s)) << "chunk at " << p;
  }
  EXPECT_GT(chunks, 150u);
  const std::string inp = test::read_file(test::data("tokenizers/gpt-neox-20b/golden.inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t n = 0;
  for (size_t p = 0, e; (e = inp.find(sep, p)) != std::string::npos; p = e + sep.size(), ++n) {
    const std::string s = inp.substr(p, e - p);
    EXPECT_EQ(t.decode(t.encode(s)), nfc_normalize(s)) << "golden case " << n;
  }
  EXPECT_EQ(n, 46u);
  // Special tokens are recognised in text.
  EXPECT_EQ(t.encode("<|endoftext|>"), (std::vector<int32_t>{0}));
}

TEST(BpeTrainer, LinesArePreTokenizedSeparately) {
  // " \n" at the end of a line is one pre-token (HF reads files line by line).
  WordCounts c;
  tok::count_words("a \nb", c);
  std::set<std::string> words;
  for (size_t i = 0; i < c.size(); ++i) words.insert(std::string(c.word(i)));
  EXPECT_EQ(words, (std::set<std::string>{"a", " \n", "b"}));
}

TEST(BpeTrainer, InvalidUtf8IsRepairedLikeEncode) {
  WordCounts bad, good;
  tok::count_words("caf\xFF\xFE x\xC3 y\n", bad);
  tok::count_words("caf\xEF\xBF\xBD\xEF\xBF\xBD x\xEF\xBF\xBD y\n", good);
  ASSERT_EQ(bad.size(), good.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(bad.word(i), good.word(i));
    EXPECT_EQ(bad.count(i), good.count(i));
  }
}

TEST(BpeTrainer, NfcBeforeCounting) {
  WordCounts a, b;
  tok::count_words("Cafe\xCC\x81 cafe\xCC\x81", a);  // decomposed
  tok::count_words("Caf\xC3\xA9 caf\xC3\xA9", b);    // composed
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.word(i), b.word(i));
}

TEST(BpeTrainer, FilesAndMaxInputBytes) {
  test::TempDir dir;
  test::write_file(dir.file("a.txt"), "one two\nthree four\n");
  test::write_file(dir.file("b.txt"), "five six\n");
  BpeTrainerOptions o;
  o.vocab_size = 300;
  BpeTrainResult r = tok::train_bpe_files({dir.file("a.txt"), dir.file("b.txt")}, o);
  EXPECT_EQ(r.input_bytes, 28u);
  EXPECT_EQ(r.words, 9u);
  o.max_input_bytes = 12;  // cut at the end of "one two\n"; b.txt is not read
  r = tok::train_bpe_files({dir.file("a.txt"), dir.file("b.txt")}, o);
  EXPECT_EQ(r.input_bytes, 8u);
  EXPECT_EQ(r.words, 3u);  // "one", " two", "\n"
  o.max_input_bytes = 20;  // all of a.txt, then not one line of b.txt
  r = tok::train_bpe_files({dir.file("a.txt"), dir.file("b.txt")}, o);
  EXPECT_EQ(r.input_bytes, 19u);
  o.max_input_bytes = 5;  // not one line: the first line is cut
  r = tok::train_bpe_files({dir.file("a.txt"), dir.file("b.txt")}, o);
  EXPECT_EQ(r.input_bytes, 5u);
  o.max_input_bytes = 0;
  EXPECT_THROW(tok::train_bpe_files({dir.file("missing.txt")}, o), Error);
  EXPECT_THROW(tok::train_bpe_files({}, o), Error);
}

TEST(BpeTrainer, OptionErrors) {
  WordCounts c;
  c.add("ab");
  BpeTrainerOptions o;
  o.vocab_size = 257;
  EXPECT_THROW(tok::train_bpe(c, o), Error);
  o.vocab_size = tok::kMaxBpeVocabSize + 1;
  EXPECT_THROW(tok::train_bpe(c, o), Error);
  o.vocab_size = 300;
  o.min_frequency = -1;
  EXPECT_THROW(tok::train_bpe(c, o), Error);
  o.min_frequency = 2;
  const BpeTrainResult r = tok::train_bpe(c, o);  // "ab" occurs once: nothing merges
  EXPECT_EQ(r.vocab.size(), 258u);
  o.min_frequency = 1;
  EXPECT_EQ(tok::train_bpe(c, o).vocab.size(), 259u);
}

TEST(BpeTrainerCli, TrainTokenizer) {
  test::TempDir dir;
  test::write_file(dir.file("c.txt"), corpus().substr(0, 50000));
  const std::string out = dir.file("sub/tok.json");
  test::RunResult r = test::run_rcc({"data", "train-tokenizer", "--vocab-size", "600", "--out", out,
                                     "--json", dir.file("c.txt")});
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["vocab_size"], 600);
  EXPECT_EQ(j["merges"], 600 - 258);
  EXPECT_EQ(j["input_bytes"], 50000);
  const Tokenizer t = Tokenizer::load(out);
  EXPECT_EQ(t.vocab_size(), 600);
  EXPECT_EQ(test::read_file(out),
            tok::bpe_tokenizer_json(train_text(corpus().substr(0, 50000), 600, 2)));
}

TEST(BpeTrainerCli, Errors) {
  test::TempDir dir;
  test::write_file(dir.file("c.txt"), "hello\n");
  const std::string out = dir.file("t.json");
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"data", "train-tokenizer"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_rcc(args);
  };
  auto expect_failure = [](const test::RunResult& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  expect_failure(run({"--out", out, dir.file("c.txt")}), 2, "--vocab-size");
  expect_failure(run({"--vocab-size", "100", "--out", out, dir.file("c.txt")}), 2, "vocab-size");
  expect_failure(run({"--vocab-size", "999999999999", "--out", out, dir.file("c.txt")}), 2,
                 "vocab-size");
  expect_failure(run({"--vocab-size", "x", "--out", out, dir.file("c.txt")}), 2, "integer");
  expect_failure(
      run({"--vocab-size", "300", "--min-frequency", "-1", "--out", out, dir.file("c.txt")}), 2,
      "min-frequency");
  expect_failure(run({"--vocab-size", "300", dir.file("c.txt")}), 2, "--out");
  expect_failure(run({"--vocab-size", "300", "--out", out}), 2, "no input files");
  expect_failure(run({"--vocab-size", "300", "--out", out, dir.file("nope.txt")}), 1, "nope.txt");
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace rcc
