// The configurable pipeline pieces: split behaviours (Hugging Face's documented example), the
// Oniguruma -> PCRE2 pattern translation, code point BPE with unk / fuse_unk / byte_fallback
// (expected ids from Hugging Face tokenizers 0.23.2 on the same tiny files), the decoders, and a
// loader error naming the field for every configuration rcc does not implement.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/regex.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;
using tok::SplitBehavior;

std::vector<std::string> split(std::string_view s, const tok::Pattern& p, SplitBehavior b,
                               bool invert = false) {
  std::vector<std::pair<size_t, size_t>> m;
  p.find_all(s, m);
  std::vector<std::string> out;
  tok::split_by_matches(s.size(), m, invert, b,
                        [&](size_t x, size_t y) { out.emplace_back(s.substr(x, y - x)); });
  return out;
}

using V = std::vector<std::string>;

TEST(TokenizerPipeline, SplitBehaviorsFollowHuggingFace) {
  // normalizer.rs documents these for "the-final--countdown" split on '-'.
  const tok::Pattern dash = tok::Pattern::literal("-");
  const std::string s = "the-final--countdown";
  EXPECT_EQ(split(s, dash, SplitBehavior::kRemoved), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split(s, dash, SplitBehavior::kIsolated),
            (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(s, dash, SplitBehavior::kMergedWithPrevious),
            (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(s, dash, SplitBehavior::kMergedWithNext),
            (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(s, dash, SplitBehavior::kContiguous),
            (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split(s, dash, SplitBehavior::kRemoved, true), (V{"-", "-", "-"}));
  EXPECT_EQ(split("", dash, SplitBehavior::kIsolated), V{});
  EXPECT_EQ(split("-x-", dash, SplitBehavior::kMergedWithNext), (V{"-x", "-"}));
  EXPECT_EQ(split("-x-", dash, SplitBehavior::kMergedWithPrevious), (V{"-", "x-"}));
}

TEST(TokenizerPipeline, RegexUsesOnigurumaSemantics) {
  const std::string f = "test.Regex";
  auto all = [&](const char* pat, std::string_view s) {
    tok::Regex r(pat, f);
    std::vector<std::pair<size_t, size_t>> m;
    r.find_all(s, m);
    std::vector<std::string> out;
    for (auto [b, e] : m) out.emplace_back(s.substr(b, e - b));
    return out;
  };
  // \s is White_Space: U+180E (MONGOLIAN VOWEL SEPARATOR) is not in it, U+3000 is.
  EXPECT_EQ(all("\\s+", "a\xE1\xA0\x8E b\xE3\x80\x80"), (V{" ", "\xE3\x80\x80"}));
  EXPECT_EQ(all("[^\\s]+", "a\xE1\xA0\x8E b"), (V{"a\xE1\xA0\x8E", "b"}));
  // \p{L} includes letters newer than PCRE2's tables (U+31350, CJK Extension H).
  EXPECT_EQ(all("\\p{L}+", "\xF0\xB1\x8D\x90x1"), (V{"\xF0\xB1\x8D\x90x"}));
  EXPECT_EQ(all("[^\\p{L}\\p{N}]+", "ab, 12!"), (V{", ", "!"}));
  // Leftmost-first alternation, case-insensitive groups, {,n}.
  EXPECT_EQ(all("a|ab", "ab"), (V{"a"}));
  EXPECT_EQ(all("(?i:'s|'t)", "'S'T's"), (V{"'S", "'T", "'s"}));
  EXPECT_EQ(all("x{,2}y", "xxxy"), (V{"xxy"}));
  // Empty matches: never right after a match; the search then moves on by one character.
  EXPECT_EQ(all("a*", "baa"), (V{"", "aa"}));
  EXPECT_EQ(all("\\h+", "xff9g"), (V{"ff9"}));
  EXPECT_EQ(tok::translate_onig_pattern("\\u00e9\\v", f), "\\x{00e9}\\x{B}");
  for (const char* refused : {"\\bx", "^x", "x$", "[[a]]", "[a&&b]", "(?m:x)", "[\\S]", "\\Kx"}) {
    try {
      tok::Regex r(refused, f);
      ADD_FAILURE() << refused << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("test.Regex"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(tok::Regex("(", f), Error);
}

// Code point BPE: vocab <unk> a b ab <0x78>, merge "a b", no pre-tokenizer or decoder.
json tiny_char_json(bool fuse, bool fallback) {
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["decoder"] = nullptr;
  j["model"] = {{"type", "BPE"},
                {"unk_token", "<unk>"},
                {"fuse_unk", fuse},
                {"byte_fallback", fallback},
                {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"<0x78>", 4}}},
                {"merges", json::array({"a b"})}};
  return j;
}

TEST(TokenizerPipeline, CodePointBpeUnknownsAndByteFallbackMatchHuggingFace) {
  struct Row {
    bool fuse, fallback;
    Ids abxyb, ayxb, ayyxyb, xe;
  };
  // Hugging Face 0.23.2 on the same files (note the pending unknown that byte-fallback tokens
  // do not flush: "ayxb" gives a <0x78> <unk> b).
  const Row rows[] = {{true, false, {3, 0, 2}, {1, 0, 2}, {1, 0, 2}, {0}},
                      {false, false, {3, 0, 0, 2}, {1, 0, 0, 2}, {1, 0, 0, 0, 0, 2}, {0, 0}},
                      {true, true, {3, 4, 0, 2}, {1, 4, 0, 2}, {1, 4, 0, 2}, {4, 0}},
                      {false, true, {3, 4, 0, 2}, {1, 4, 0, 2}, {1, 0, 4, 0, 0, 2}, {4, 0}}};
  for (const Row& r : rows) {
    SCOPED_TRACE(testing::Message() << "fuse " << r.fuse << " fallback " << r.fallback);
    const Tokenizer t = Tokenizer::from_json(tiny_char_json(r.fuse, r.fallback).dump());
    EXPECT_EQ(t.encode("abxyb"), r.abxyb);
    EXPECT_EQ(t.encode("ayxb"), r.ayxb);
    EXPECT_EQ(t.encode("ayyxyb"), r.ayyxyb);
    EXPECT_EQ(t.encode("x\xC3\xA9"), r.xe);
    EXPECT_EQ(t.decode({1, 0, 4, 2}), "a <unk> <0x78> b");  // no decoder: joined with ' '
  }
}

TEST(TokenizerPipeline, DecodersFollowHuggingFace) {
  json j = tiny_char_json(true, true);
  j["model"]["vocab"] = {{"<unk>", 0},
                         {"\xE2\x96\x81"
                          "a",
                          1},
                         {"b", 2},
                         {"<0xC3>", 3},
                         {"<0xA9>", 4},
                         {"<0xFF>", 5},
                         {"\xE2\x96\x81", 6}};
  j["model"]["merges"] = json::array();
  j["decoder"] = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  Tokenizer t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.decode({1, 3, 4, 2}),
            "a\xC3\xA9"
            "b");
  EXPECT_EQ(t.decode({3, 2}),
            "\xEF\xBF\xBD"
            "b");  // invalid bytes: U+FFFD each
  EXPECT_EQ(t.decode({3, 5, 2}),
            "\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");                         // two bytes, two U+FFFD
  EXPECT_EQ(t.decode({6, 6, 1}), "  a");  // one space stripped
  j["decoder"] = {
      {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}};
  t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.decode({6, 1, 1}), " a a");  // in the first token every replacement is dropped
  j["decoder"]["prepend_scheme"] = "never";
  t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.decode({6, 1, 1}), "  a a");
}

// The loader error for a change to the tiny byte-level tokenizer mentions every `needles`.
void expect_error(const std::function<void(json&)>& change, std::vector<std::string> needles) {
  json j = test::tiny_tokenizer_json();
  change(j);
  try {
    Tokenizer::from_json(j.dump(), "tiny.json");
    ADD_FAILURE() << "accepted: " << needles[0];
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
}

TEST(TokenizerPipeline, UnsupportedConfigurationsAreRefusedNamingTheField) {
  expect_error(
      [](json& j) {
        j["normalizer"] = {{"type", "Lowercase"}};
      },
      {"tiny.json", "normalizer.type", "Lowercase"});
  expect_error(
      [](json& j) {
        j["normalizer"] = {{"type", "Sequence"},
                           {"normalizers", {{{"type", "NFC"}}, {{"type", "NFKC"}}}}};
      },
      {"normalizer.normalizers[1].type", "NFKC"});
  expect_error(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Whitespace"}};
      },
      {"pre_tokenizer.type", "Whitespace"});
  expect_error([](json& j) { j["pre_tokenizer"] = {{"type", "Digits"}}; }, {"Digits"});
  expect_error(
      [](json& j) {
        j["decoder"] = {{"type", "WordPiece"}};
      },
      {"decoder.type", "WordPiece"});
  auto split = [](json pattern, const char* behavior) {
    return [=](json& j) {
      j["pre_tokenizer"] = {
          {"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", false}},
            {{"type", "ByteLevel"}, {"use_regex", false}}}}};
    };
  };
  expect_error(split({{"Regex", "\\bx"}}, "Isolated"),
               {"pre_tokenizer.pretokenizers[0].pattern.Regex", "\\b"});
  expect_error(split({{"Regex", "(x"}}, "Isolated"), {"pattern.Regex", "does not compile"});
  expect_error(split({{"String", ""}}, "Isolated"), {"pattern.String", "empty"});
  expect_error(split({{"Other", "x"}}, "Isolated"), {"pretokenizers[0].pattern"});
  expect_error(split({{"String", "x"}}, "Glued"), {"pretokenizers[0].behavior", "Glued"});
  expect_error(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers",
                               {{{"type", "ByteLevel"}},
                                {{"type", "Split"},
                                 {"pattern", {{"String", "x"}}},
                                 {"behavior", "Isolated"},
                                 {"invert", false}}}}};
      },
      {"pre_tokenizer", "ByteLevel must come last"});
  expect_error(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "ab"}};
      },
      {"pre_tokenizer.replacement", "one character"});
  expect_error(
      [](json& j) {
        j["pre_tokenizer"] = {
            {"type", "Metaspace"}, {"replacement", "_"}, {"add_prefix_space", false}};
      },
      {"pre_tokenizer.add_prefix_space", "never"});
  expect_error(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}, {"prepend_scheme", "x"}};
      },
      {"pre_tokenizer.prepend_scheme"});
  expect_error(
      [](json& j) {
        j["decoder"] = {{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}};
      },
      {"decoder.start"});
  expect_error([](json& j) { j["model"]["byte_fallback"] = "yes"; }, {"model.byte_fallback"});
}

TEST(TokenizerPipeline, NullPreTokenizerAndDecoderAreAccepted) {
  json j = test::tiny_tokenizer_json();
  j["pre_tokenizer"] = nullptr;
  j["decoder"] = nullptr;
  const Tokenizer t = Tokenizer::from_json(j.dump());
  // Without ByteLevel the model sees code points: "h" "e" are vocabulary entries; ' ' is not.
  EXPECT_EQ(t.encode("hello"), (Ids{259}));
  EXPECT_EQ(t.decode({256, 257}), "he ll");
}

}  // namespace
}  // namespace rcc
