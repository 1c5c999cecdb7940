// The tokenizer's building blocks: UTF-8 repair, the byte-level alphabet, NFC with its ASCII fast
// path, the character classes against Hugging Face on every code point, and the hand-written
// GPT-2 split checked against the PCRE2 reference on random text.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>
#include <sstream>

#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace rcc::tok {
namespace {

// Expected values: Python's bytes.decode("utf-8", "replace"), which substitutes maximal subparts.
TEST(TokenizerUnicode, Utf8RepairUsesMaximalSubparts) {
  const std::pair<std::string, std::string> cases[] = {
      {"\x80", "\uFFFD"},
      {"\xC3", "\uFFFD"},
      {"\xE2\x82", "\uFFFD"},
      {"\xE2\x82"
       "A",
       "\uFFFD"
       "A"},
      {"\xF0\x9F\x98", "\uFFFD"},
      {"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"},
      {"\xC0\xAF", "\uFFFD\uFFFD"},
      {"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
      {"\xF5", "\uFFFD"},
      {"\xE0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
      {"\xFF\xFE", "\uFFFD\uFFFD"},
      {"a\xF0\x9F\x98\x80"
       "b\xF0\x9F",
       "a\U0001F600"
       "b\uFFFD"},
      {"\xE1\x80\xE1\x80\x80", "\uFFFD\u1000"},
      {std::string("a\0b", 3), std::string("a\0b", 3)},
      {"\xF4\x8F\xBF\xBF", "\U0010FFFF"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(utf8::to_valid(in), want) << testing::PrintToString(in);
    EXPECT_EQ(utf8::is_valid(in), in == want) << testing::PrintToString(in);
  }
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    const std::string v = utf8::to_valid(s);
    EXPECT_TRUE(utf8::is_valid(v));
    EXPECT_EQ(utf8::to_valid(v), v);
  }
}

TEST(TokenizerUnicode, ByteLevelAlphabet) {
  EXPECT_EQ(byte_to_char(' '), U'\u0120');
  EXPECT_EQ(byte_to_char('\n'), U'\u010A');
  EXPECT_EQ(byte_to_char('A'), U'A');
  EXPECT_EQ(byte_to_char(0xAD), U'\u0143');
  EXPECT_EQ(char_to_byte(U' '), -1);
  EXPECT_EQ(char_to_byte(U'\u0120'), ' ');
  for (int b = 0; b < 256; ++b) EXPECT_EQ(char_to_byte(byte_to_char(uint8_t(b))), b);
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  std::string back;
  ASSERT_TRUE(token_to_bytes(bytes_to_token(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(token_to_bytes("a b", back));  // ' ' is not in the alphabet
}

TEST(TokenizerUnicode, CharacterClasses) {
  EXPECT_EQ(char_class(U'a'), kLetter);
  EXPECT_EQ(char_class(U'\u00E9'), kLetter);
  EXPECT_EQ(char_class(U'\u4E2D'), kLetter);
  EXPECT_EQ(char_class(U'7'), kNumber);
  EXPECT_EQ(char_class(U'\u00BD'), kNumber);  // No
  EXPECT_EQ(char_class(U'\u2163'), kNumber);  // Nl
  for (char32_t c : {U'\t', U'\n', U'\v', U'\f', U'\r', U' ', U'\u0085', U'\u00A0', U'\u1680',
                     U'\u2000', U'\u200A', U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000'})
    EXPECT_EQ(char_class(c), kSpace) << uint32_t(c);
  for (char32_t c : {U'\u180E', U'\u200B', U'\uFEFF', U'\x1C', U'\x1F', U'\'', U'\u0301'})
    EXPECT_EQ(char_class(c), kOther) << uint32_t(c);
  EXPECT_TRUE(is_word_char(U'a'));
  EXPECT_TRUE(is_word_char(U'_'));
  EXPECT_TRUE(is_word_char(U'\u0301'));  // marks count as word characters in Rust's \w
  EXPECT_TRUE(is_word_char(U'\u24D0'));  // circled a: Alphabetic, though its category is So
  EXPECT_FALSE(is_word_char(U'-'));
  EXPECT_FALSE(is_word_char(U' '));
}

TEST(TokenizerUnicode, NfcFastPathMatchesFullNormalization) {
  std::string out;
  EXPECT_FALSE(nfc_if_changed("plain ascii", out));
  EXPECT_FALSE(nfc_if_changed("caf\u00e9 \u4E2D", out));
  EXPECT_TRUE(nfc_if_changed("cafe\u0301!", out));
  EXPECT_EQ(out, "caf\u00e9!");
  EXPECT_EQ(nfc("\u212B"), "\u00C5");
  EXPECT_EQ(nfc("x\u0316\u0301"
                "b"),
            "x\u0316\u0301"
            "b");
  EXPECT_EQ(nfc("x\u0301\u0316"), "x\u0316\u0301");  // reordered by combining class
  EXPECT_EQ(nfc("a\u0301\u0316"), "\u00e1\u0316");   // reordered, then composed
  EXPECT_EQ(nfc("\u1100\u1161\u11A8"), "\uAC01");    // conjoining jamo compose
  // Random mixes of ASCII, marks and composable letters: the segmenting fast path must agree
  // with normalizing the whole string (checked through NFD(NFC(x)) == NFD(x) and idempotence).
  const char* atoms[] = {"a",      "e",      " ",      "\u0301", "\u0316", "\u0308",
                         "\u00e9", "\u1100", "\u1161", "\u11a8", "\u212b", "x",
                         "\n",     "\u0958", "\u4e2d", "1"};
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    for (int k = rng() % 12; k > 0; --k) s += atoms[rng() % std::size(atoms)];
    const std::string n = nfc(s);
    EXPECT_EQ(nfd(n), nfd(s)) << s;
    EXPECT_EQ(nfc(n), n) << s;
    // With a non-ASCII starter in front the whole string is one segment (no fast path).
    EXPECT_EQ(nfc("\u00e9" + s), "\u00e9" + n) << s;
  }
}

std::vector<std::pair<size_t, size_t>> split_fast(std::string_view s) {
  std::vector<std::pair<size_t, size_t>> out;
  split_gpt2(s, [&](size_t b, size_t e) { out.emplace_back(b, e); });
  return out;
}

std::vector<std::string> pieces(std::string_view s) {
  std::vector<std::string> out;
  for (auto [b, e] : split_fast(s)) out.emplace_back(s.substr(b, e - b));
  return out;
}

TEST(TokenizerUnicode, Gpt2SplitExamples) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm  here's"), (V{"I", "'m", " ", " here", "'s"}));
  EXPECT_EQ(pieces("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(pieces("a \n b"), (V{"a", " \n", " b"}));
  EXPECT_EQ(pieces("x\ty"), (V{"x", "\t", "y"}));
  EXPECT_EQ(pieces("end   "), (V{"end", "   "}));
  EXPECT_EQ(pieces("12abc!!?"), (V{"12", "abc", "!!?"}));
  EXPECT_EQ(pieces(" 'sup''ll"), (V{" '", "sup", "''", "ll"}));
  EXPECT_EQ(pieces("'S 'LL"), (V{"'", "S", " '", "LL"}));
  EXPECT_EQ(pieces("\u00a0a"), (V{"\u00a0", "a"}));
  EXPECT_EQ(pieces(" \u00a0a"), (V{" ", "\u00a0", "a"}));
  EXPECT_EQ(pieces("\u4e2d\u6587 \u00bd"), (V{"\u4e2d\u6587", " \u00bd"}));
  // Letters newer than Debian 12's utf8proc (CJK Ext. H U+317DF, Unicode 15.0; Garay U+10D50,
  // 16.0) join letter runs, as in HF (its Oniguruma has Unicode 16.0); found by the fuzzer.
  EXPECT_EQ(pieces("a\U000317DF\U000317DF!"), (V{"a\U000317DF\U000317DF", "!"}));
  EXPECT_EQ(pieces(" \U00010D50x1"), (V{" \U00010D50x", "1"}));
  EXPECT_TRUE(pieces("").empty());
}

// Every code point's class against the classes Hugging Face's own split gives it
// (tests/reference/make_split_class_fixture.mjs, HF tokenizers 0.23.2). Exact: classes are
// discrete.
TEST(TokenizerUnicode, CharClassMatchesHuggingFaceForEveryCodePoint) {
  const std::string path = test::fixture("tokenizer/gpt2_split_classes.txt.gz");
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing fixture " << path;
  std::istringstream in(test::read_maybe_gz(path));
  std::string line;
  char32_t next = 0;
  size_t mismatches = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string a, b, k;
    fields >> a >> b >> k;
    const char32_t first = char32_t(std::stoul(a, nullptr, 16)),
                   last = char32_t(std::stoul(b, nullptr, 16));
    ASSERT_EQ(first, next) << "ranges must be contiguous: " << line;
    const CharClass want = k == "L" ? kLetter : k == "N" ? kNumber : k == "S" ? kSpace : kOther;
    for (char32_t cp = first; cp <= last; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;  // surrogates: not text
      if (char_class(cp) != want && ++mismatches <= 10)
        ADD_FAILURE() << "U+" << std::hex << uint32_t(cp) << ": class " << int(char_class(cp))
                      << ", HF " << k;
    }
    next = last + 1;
  }
  EXPECT_EQ(next, char32_t(0x110000));
  EXPECT_EQ(mismatches, 0u);
}

std::string unhex(const std::string& h) {
  std::string s;
  for (size_t i = 0; i + 1 < h.size(); i += 2) s += char(std::stoi(h.substr(i, 2), nullptr, 16));
  return s;
}

// NFC against Hugging Face's normalizer on three probes per code point c
// (tests/reference/make_nfc_fixture.mjs): NFC(HF's NFD of c), NFC(c U+0316 U+0301),
// NFC("e" c U+0301). The fixture lists the code points where HF changes a probe; on every other
// code point all must come back unchanged. Exact (strings). rcc has no NFD normalizer, so HF's
// NFD itself is input here, not compared.
TEST(TokenizerUnicode, NfcMatchesHuggingFaceForEveryCodePoint) {
  const std::string path = test::fixture("tokenizer/nfc_probes.txt.gz");
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing fixture " << path;
  std::map<char32_t, std::array<std::string, 4>> hf;  // NFD, NFC of the three probes
  std::istringstream in(test::read_maybe_gz(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string cp, d, a, b, c;
    fields >> cp >> d >> a >> b >> c;
    hf[char32_t(std::stoul(cp, nullptr, 16))] = {unhex(d), unhex(a), unhex(b), unhex(c)};
  }
  ASSERT_GT(hf.size(), 10000u);
  size_t mismatches = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string c;
    utf8::append(cp, c);
    const auto it = hf.find(cp);
    const std::string hf_nfd = it == hf.end() ? c : it->second[0];
    const std::array<std::string, 3> probes = {hf_nfd, c + "\u0316\u0301", "e" + c + "\u0301"};
    const std::array<std::string, 3> want =
        it == hf.end() ? probes
                       : std::array<std::string, 3>{it->second[1], it->second[2], it->second[3]};
    const std::array<std::string, 3> got = {nfc(probes[0]), nfc(probes[1]), nfc(probes[2])};
    for (int k = 0; k < 3; ++k)
      if (got[k] != want[k] && ++mismatches <= 10)
        ADD_FAILURE() << "U+" << std::hex << uint32_t(cp) << " probe " << k;
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(TokenizerUnicode, Gpt2SplitMatchesPcre2Reference) {
  const char* atoms[] = {"a",          "Z",
                         "\u00e9",     "\u4e2d",
                         "\u0301",     "1",
                         "\u00bd",     "\u2163",
                         " ",          "  ",
                         "\t",         "\n",
                         "\r\n",       "\u00a0",
                         "\u3000",     "\u2028",
                         "\u0085",     "\u180e",
                         "\u200b",     "'",
                         "'s",         "'t",
                         "'re",        "'ve",
                         "'m",         "'ll",
                         "'d",         "'S",
                         "'x",         "!",
                         ".",          "-",
                         "_",          "\U0001F600",
                         "\x01",       "\x7f",
                         "\u0600",     "\u0915\u093f",
                         "\U0001D400", "\U00020000"};
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int k = rng() % 16; k > 0; --k) s += atoms[rng() % std::size(atoms)];
    ASSERT_EQ(split_fast(s), split_gpt2_reference(s)) << testing::PrintToString(s);
  }
}

TEST(TokenizerUnicode, Gpt2SplitMatchesPcre2ReferenceOnCorpus) {
  const std::string path = test::fixture("tokenizer/corpus.txt.gz");
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing fixture " << path;
  size_t chunks = 0;
  for (const auto& chunk : test::split_on(test::read_maybe_gz(path), '\x1e')) {
    const std::string n = nfc(chunk);
    ASSERT_EQ(split_fast(n), split_gpt2_reference(n)) << testing::PrintToString(chunk);
    ++chunks;
  }
  EXPECT_GT(chunks, 7000u);
}

}  // namespace
}  // namespace rcc::tok
