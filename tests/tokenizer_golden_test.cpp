// The large golden set (tests/fixtures/tokenizer, made by tests/reference/make_tokenizer_*):
// 7.7k corpus chunks (1.7 MB: prose, code, many scripts, emoji, whitespace, numbers, CRLF,
// combining marks...), 700 decode cases and two variant tokenizers exercising added-token flags,
// add_prefix_space, use_regex=false and ignore_merges. Expected outputs come from Hugging Face
// tokenizers (see tokenizer_fixture_meta.json for the tool and version).
// Every id must be equal: rcc reproduces HF's own Unicode data where it differs from utf8proc's
// (tokenizer_unicode_test checks that on every code point).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const char* kRegen =
    "; regenerate with: node tests/reference/make_tokenizer_fixtures.mjs --corpus "
    "tests/fixtures/tokenizer/corpus.txt.gz --tokenizer "
    "data/tokenizers/gpt-neox-20b/tokenizer.json.gz --out tests/fixtures/tokenizer "
    "(or the .py twin, see tests/reference/README.md)";

std::string fixture_path(const std::string& name) {
  const std::string p = test::fixture("tokenizer/" + name);
  if (!std::filesystem::exists(p)) throw std::runtime_error("missing fixture " + p + kRegen);
  return p;
}

std::vector<json> read_jsonl(const std::string& name) {
  std::vector<json> rows;
  for (const auto& line : test::split_on(test::read_maybe_gz(fixture_path(name)), '\n'))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

struct Tally {
  size_t exact = 0, bad = 0;
};

// Compares encode/decode of every text with the expected rows; with round_trip, also checks
// decode(encode(x)) == NFC(x) (not true for the variants: add_prefix_space, the "é" token).
Tally check_encodings(const Tokenizer& t, const std::vector<std::string>& texts,
                      const std::vector<json>& rows, const std::string& what, bool round_trip) {
  Tally tally;
  EXPECT_EQ(texts.size(), rows.size()) << what << kRegen;
  for (size_t i = 0; i < std::min(texts.size(), rows.size()); ++i) {
    const Ids expected = rows[i].at("ids").get<Ids>();
    const std::string hf_decoded = rows[i].at("decoded").get<std::string>();
    EXPECT_EQ(t.decode(expected), hf_decoded) << what << " chunk " << i;
    const Ids ids = t.encode(texts[i]);
    const std::string ours_nfc = nfc_normalize(texts[i]);
    if (round_trip) {
      EXPECT_EQ(t.decode(ids), ours_nfc) << what << " chunk " << i << ": round trip";
    }
    if (ids == expected) {
      ++tally.exact;
      continue;
    }
    ++tally.bad;
    if (tally.bad <= 10)
      ADD_FAILURE() << what << " chunk " << i << " differs: " << json(texts[i]).dump();
  }
  return tally;
}

TEST(TokenizerGolden, CorpusMatchesHuggingFace) {
  const auto rows = read_jsonl("corpus_expected.jsonl.gz");
  const auto texts = test::split_on(test::read_maybe_gz(fixture_path("corpus.txt.gz")), '\x1e');
  ASSERT_GT(texts.size(), 7000u);
  Tally t = check_encodings(test::neox(), texts, rows, "corpus", true);
  EXPECT_EQ(t.bad, 0u);
  std::printf("[ corpus   ] %zu chunks exact\n", t.exact);
}

TEST(TokenizerGolden, VariantTokenizersMatchHuggingFace) {
  const auto texts =
      test::split_on(test::read_maybe_gz(fixture_path("variant_cases.txt.gz")), '\x1e');
  for (const std::string name : {"variant_prefix", "variant_noregex"}) {
    const std::string path = fixture_path(name + ".json");
    const Tokenizer t = Tokenizer::load(path);
    Tally tally = check_encodings(t, texts, read_jsonl(name + "_expected.jsonl.gz"), name,
                                  /*round_trip=*/false);  // add_prefix_space, the "é" token
    EXPECT_EQ(tally.bad, 0u) << name;
  }
}

TEST(TokenizerGolden, DecodeCasesMatchHuggingFace) {
  const auto rows = read_jsonl("decode_expected.jsonl.gz");
  ASSERT_GT(rows.size(), 500u);
  size_t bad = 0;
  for (const json& r : rows) {
    const Ids ids = r.at("ids").get<Ids>();
    const std::string text = test::neox().decode(ids);
    const std::string skip = test::neox().decode(ids, true);
    if (text != r.at("text").get<std::string>() ||
        skip != r.at("text_skip_special").get<std::string>()) {
      if (++bad <= 10) ADD_FAILURE() << "decode differs for " << r.at("ids").dump();
    }
  }
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace rcc
