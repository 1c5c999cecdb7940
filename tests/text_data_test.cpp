// Text files as rcc reads them (core/text_file.h: plain or gzip, with clear errors) and text
// files as task data (TokenCorpus tokenizing *.txt / *.txt.gz when opened), through the library
// and the CLI.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text_file.h"
#include "tasks/codec.h"
#include "tasks/shards.h"
#include "test_util.h"

namespace rcc {
namespace {

// `text` gzip-compressed by zlib's own gzip writer (an independent producer of the format).
void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb9");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), unsigned(text.size())), int(text.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// Expects `fn` to throw an rcc::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

std::string sample_text() {
  std::string s;
  for (int i = 0; i < 5000; ++i) s += "line " + std::to_string(i) + " \xc3\xa9t\xc3\xa9\n";
  return s;
}

TEST(TextFile, PlainAndGzipReadTheSame) {
  test::TempDir tmp;
  const std::string text = sample_text();
  test::write_file(tmp.file("a.txt"), text);
  write_gz(tmp.file("a.txt.gz"), text);
  write_gz(tmp.file("no-suffix"), text);  // gzip is recognised by its magic, not its name
  EXPECT_EQ(read_text_file(tmp.file("a.txt")), text);
  EXPECT_EQ(read_text_file(tmp.file("a.txt.gz")), text);
  EXPECT_EQ(read_text_file(tmp.file("no-suffix")), text);
  test::write_file(tmp.file("empty.txt"), "");
  EXPECT_EQ(read_text_file(tmp.file("empty.txt")), "");
  // Concatenated members (`cat a.gz b.gz`) read as one stream, as gzip -dc does.
  const std::string gz = test::read_file(tmp.file("a.txt.gz"));
  test::write_file(tmp.file("two.gz"), gz + gz);
  EXPECT_EQ(read_text_file(tmp.file("two.gz")), text + text);
}

TEST(TextFile, BadFilesGiveErrorsNamingThem) {
  test::TempDir tmp;
  write_gz(tmp.file("a.gz"), sample_text());
  const std::string gz = test::read_file(tmp.file("a.gz"));
  test::write_file(tmp.file("cut.gz"), gz.substr(0, gz.size() / 2));
  expect_error([&] { read_text_file(tmp.file("cut.gz")); }, {tmp.file("cut.gz"), "truncated"});
  std::string bad = gz;
  for (size_t i = 20; i < 60; ++i) bad[i] = char(bad[i] ^ 0x5a);
  test::write_file(tmp.file("bad.gz"), bad);
  expect_error([&] { read_text_file(tmp.file("bad.gz")); }, {tmp.file("bad.gz"), "gzip"});
  test::write_file(tmp.file("tail.gz"), gz + "junk");
  expect_error([&] { read_text_file(tmp.file("tail.gz")); },
               {tmp.file("tail.gz"), "after the end"});
  expect_error([&] { read_text_file(tmp.file("missing.txt")); },
               {tmp.file("missing.txt"), "cannot open"});
  expect_error([&] { read_text_file(tmp.path()); }, {tmp.path(), "directory"});
}

// A word-level codec: each word a token, so expected ids are easy to write down.
WordVocab words() {
  return WordVocab({"alpha", "beta", "gamma", "delta"});
}

TEST(TextCorpus, TextFilesAreTokenizedAsDocuments) {
  test::TempDir tmp;
  const WordVocab v = words();
  test::write_file(tmp.file("t-1.txt"), "alpha beta");
  write_gz(tmp.file("t-2.txt.gz"), "gamma delta alpha");
  test::write_file(tmp.file("t-3.md"), "beta beta");  // not text by name: skipped by patterns
  const std::vector<int32_t> a = v.encode("alpha beta"), b = v.encode("gamma delta alpha");
  std::vector<int32_t> want = a;
  want.push_back(v.eos());
  want.insert(want.end(), b.begin(), b.end());
  want.push_back(v.eos());
  for (const std::string& pattern : {tmp.file("t-*"), tmp.path()}) {
    const TokenCorpus c = TokenCorpus::open({pattern}, &v);
    ASSERT_EQ(c.tokens(), int64_t(want.size())) << pattern;
    Rng rng(1);
    EXPECT_EQ(c.span(int64_t(want.size()), rng), want) << pattern;  // the whole stream, in order
    EXPECT_EQ(c.info().vocab_size, v.vocab_size());
  }
  // A file named explicitly is text whatever its name.
  EXPECT_EQ(TokenCorpus::open({tmp.file("t-3.md")}, &v).tokens(), 3);
}

TEST(TextCorpus, ErrorsSayWhatIsMissingAndHowToMakeIt) {
  test::TempDir tmp;
  const WordVocab v = words();
  test::write_file(tmp.file("t.txt"), "alpha");
  expect_error([&] { TokenCorpus::open({tmp.file("t.txt")}); }, {tmp.file("t.txt"), "tokenizer"});
  expect_error([&] { TokenCorpus::open({tmp.file("nothing.txt")}, &v); },
               {tmp.file("nothing.txt"), "no such file", "rcc data tokenize"});
  expect_error([&] { TokenCorpus::open({tmp.file("none/x*")}, &v); },
               {"none/x*", "no such directory", "rcc data tokenize"});
  expect_error([&] { TokenCorpus::open({tmp.file("zz*")}, &v); },
               {"zz*", "no token shards or text"});
  // Shards and text of different vocabularies do not mix.
  write_shard(tmp.file("s.rcctok"), {1, 2}, 100, 1, "h", "x");
  expect_error(
      [&] {
        TokenCorpus::open({tmp.file("s.rcctok"), tmp.file("t.txt")}, &v);
      },
      {"another vocabulary"});
}

TEST(TextCli, GzipInputsReadLikePlainOnes) {
  test::TempDir tmp;
  const std::string text = "Hello world. The pass key is 12345.\n";
  test::write_file(tmp.file("a.txt"), text);
  write_gz(tmp.file("a.txt.gz"), text);
  const std::string tok = test::data("tokenizers/gpt-neox-20b/tokenizer.json.gz");
  const test::RunResult plain =
      test::run_rcc({"tokenize", "--tokenizer", tok, "--input", tmp.file("a.txt")});
  const test::RunResult gz =
      test::run_rcc({"tokenize", "--tokenizer", tok, "--input", tmp.file("a.txt.gz")});
  const test::RunResult in =
      test::run_rcc({"tokenize", "--tokenizer", tok}, test::read_file(tmp.file("a.txt.gz")));
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(gz.status, 0) << gz.err;
  EXPECT_EQ(gz.out, plain.out);
  EXPECT_EQ(in.out, plain.out);
  EXPECT_FALSE(plain.out.empty());
  const test::RunResult dir =
      test::run_rcc({"tokenize", "--tokenizer", tok, "--input", tmp.path()});
  EXPECT_EQ(dir.status, 1);
  EXPECT_NE(dir.err.find("directory"), std::string::npos) << dir.err;
}

// Every bundled data file the repository ships reads (gzip intact) and is not empty.
TEST(BundledData, EveryFileReads) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(test::data(""))) {
    if (!e.is_regular_file()) continue;
    const std::string p = e.path().string();
    if (p.find("/rcc-tiny/") != std::string::npos) continue;  // generated by scripts, untracked
    EXPECT_FALSE(read_text_file(p).empty()) << p;
    ++n;
  }
  EXPECT_GE(n, 40);
}

}  // namespace
}  // namespace rcc
