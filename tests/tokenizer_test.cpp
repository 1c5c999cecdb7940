// GPT-NeoX tokenizer: the llama.cpp golden cases, round trips, added tokens, whitespace runs,
// invalid UTF-8, decode and the lookup API. Expected ids written out below come from Hugging Face
// tokenizers 0.23.2 (encode(text, add_special_tokens=False)).
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using test::neox;
using Ids = std::vector<int32_t>;

// golden.inp: strings each followed by "\n__ggml_vocab_test__\n"; golden.out: one line per string
// with its ids, each preceded by a space (an empty line for the empty string).
TEST(TokenizerTest, GoldenCasesFromLlamaCpp) {
  const std::string inp = test::read_file(test::data("tokenizers/gpt-neox-20b/golden.inp"));
  const std::string out = test::read_file(test::data("tokenizers/gpt-neox-20b/golden.out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t p = 0;;) {
    size_t e = inp.find(sep, p);
    if (e == std::string::npos) {
      ASSERT_EQ(p, inp.size()) << "golden.inp must end with the separator";
      break;
    }
    texts.push_back(inp.substr(p, e - p));
    p = e + sep.size();
  }
  std::vector<std::string> lines = test::split_on(out, '\n');
  ASSERT_EQ(lines.back(), "") << "golden.out must end with a newline";
  lines.pop_back();
  ASSERT_EQ(texts.size(), 46u);
  ASSERT_EQ(lines.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const Ids ids = neox().encode(texts[i]);
    std::string got;
    for (int32_t id : ids) {
      got += ' ';
      got += std::to_string(id);
    }
    EXPECT_EQ(got, lines[i]) << "case " << i << ": \"" << texts[i] << "\"";
    EXPECT_EQ(neox().decode(ids), nfc_normalize(texts[i])) << "case " << i;
  }
}

TEST(TokenizerTest, VocabularyAndLookups) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.vocab_size(), 50277);
  EXPECT_EQ(t.token_id("<|endoftext|>"), 0);
  EXPECT_EQ(t.token_id("<|padding|>"), 1);
  EXPECT_EQ(t.token_id("Hello"), 12092);
  EXPECT_EQ(t.token_id("Ġworld"), 1533);
  EXPECT_EQ(t.token_id(std::string(24, ' ')), 50254);
  EXPECT_EQ(t.token_id(std::string(2, ' ')), 50276);
  EXPECT_EQ(t.token_id("no such token"), std::nullopt);
  EXPECT_EQ(t.id_to_token(1533), "Ġworld");
  EXPECT_EQ(t.id_to_token(50276), "  ");
  EXPECT_EQ(t.id_to_token(50277), std::nullopt);
  EXPECT_EQ(t.id_to_token(-1), std::nullopt);
  EXPECT_TRUE(t.is_special(0));
  EXPECT_TRUE(t.is_special(1));
  EXPECT_FALSE(t.is_special(50276));  // whitespace runs are added but not special
  EXPECT_FALSE(t.is_special(12092));
}

TEST(TokenizerTest, WhitespaceRunsUseTheAddedTokens) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.encode(" "), (Ids{209}));
  EXPECT_EQ(t.encode("  "), (Ids{50276}));
  EXPECT_EQ(t.encode(std::string(24, ' ')), (Ids{50254}));
  EXPECT_EQ(t.encode(std::string(25, ' ')), (Ids{50254, 209}));
  EXPECT_EQ(t.encode(std::string(26, ' ')), (Ids{50254, 50276}));
  EXPECT_EQ(t.encode(std::string(50, ' ')), (Ids{50254, 50254, 50276}));
  EXPECT_EQ(t.encode("a   b"), (Ids{66, 50275, 67}));
  EXPECT_EQ(t.encode("a  b"), (Ids{66, 50276, 67}));
  EXPECT_EQ(t.encode("a b"), (Ids{66, 270}));
  EXPECT_EQ(t.encode("\t\t"), (Ids{623}));
  EXPECT_EQ(t.encode("\n\n  x"), (Ids{535, 50276, 89}));
  EXPECT_EQ(t.encode("  \n"), (Ids{50276, 187}));
  EXPECT_EQ(t.encode("x  "), (Ids{89, 50276}));
  for (int n = 1; n <= 100; ++n) {
    std::string s = "x";  // (built by appends: GCC 12 warns falsely on operator+ chains here)
    s.append(n, ' ').append("y\n").append(n, '\t').append("z");
    EXPECT_EQ(t.decode(t.encode(s)), s) << n;
  }
}

TEST(TokenizerTest, AddedTokensInText) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.encode("<|endoftext|>"), (Ids{0}));
  EXPECT_EQ(t.encode("a<|endoftext|>b"), (Ids{66, 0, 67}));
  EXPECT_EQ(t.encode("<|endoftext|><|padding|>"), (Ids{0, 1}));
  EXPECT_EQ(t.encode(" <|endoftext|> "), (Ids{209, 0, 209}));
  EXPECT_EQ(t.encode("<|endoftext|"), (Ids{29, 93, 423, 1171, 1156, 93}));
  EXPECT_EQ(t.encode("<|endoftext|>\u0301"), (Ids{0, 136, 212}));
  EXPECT_EQ(t.encode("<|endoftext|>'s"), (Ids{0, 434}));
  const Ids ids = t.encode("Hi<|endoftext|>there<|padding|>");
  EXPECT_EQ(t.decode(ids), "Hi<|endoftext|>there<|padding|>");
  EXPECT_EQ(t.decode(ids, /*skip_special=*/true), "Hithere");
  EXPECT_EQ(t.decode({50276, 0, 12092}, true), "  Hello");  // non-special added tokens stay
}

TEST(TokenizerTest, MoreKnownEncodings) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.encode(""), Ids{});
  EXPECT_EQ(t.encode("caf\u00e9"), (Ids{68, 2320, 860}));
  EXPECT_EQ(t.encode("cafe\u0301"), (Ids{68, 2320, 860}));  // NFC first
  EXPECT_EQ(t.encode("\u212b"), (Ids{18221}));              // Angstrom sign -> U+00C5
  EXPECT_EQ(t.encode("I'm don't WE'LL y'all"),
            (Ids{42, 1353, 1053, 626, 13573, 8, 2293, 340, 8, 455}));
  EXPECT_EQ(t.encode("12345678"), (Ids{42594, 25025}));
  EXPECT_EQ(t.encode("Hello, world! \U0001F600"), (Ids{12092, 13, 1533, 2, 49042, 211}));
  Ids xs(12, 34576);
  xs.push_back(16321);
  EXPECT_EQ(t.encode(std::string(100, 'x')), xs);  // > 64 bytes: the heap BPE path
  EXPECT_EQ(t.encode(std::string(70, '=')), (Ids{15256, 4738}));
}

TEST(TokenizerTest, InvalidUtf8BecomesReplacementCharacters) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.encode("a\xFF"
                     "b"),
            (Ids{66, 21478, 67}));
  EXPECT_EQ(t.encode("a\xFF"
                     "b"),
            t.encode("a\uFFFD"
                     "b"));
  EXPECT_EQ(t.encode("\xED\xA0\x80"), (Ids{42481, 21478}));  // a surrogate: three subparts
  EXPECT_EQ(t.decode(t.encode("x\xC3")), "x\uFFFD");
  EXPECT_EQ(t.encode("\xF0\x9F\x98"), t.encode("\uFFFD"));  // truncated emoji: one subpart
  // Random bytes never throw, and round-trip to their repaired NFC form.
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 128 : rng() % 256);
    Ids ids;
    ASSERT_NO_THROW(ids = t.encode(s));
    EXPECT_EQ(t.decode(ids), nfc_normalize(tok::utf8::to_valid(s)));
  }
}

TEST(TokenizerTest, DecodeSkipsUnknownIdsAndRepairsBytes) {
  const Tokenizer& t = neox();
  EXPECT_EQ(t.decode({}), "");
  EXPECT_EQ(t.decode({12092, -5, 50277, 1 << 30, 1533}), "Hello world");
  // Byte tokens of a split emoji: together valid, alone replaced (like from_utf8_lossy).
  const Ids emoji = t.encode("\U0001F600");
  ASSERT_GE(emoji.size(), 2u);
  EXPECT_EQ(t.decode(emoji), "\U0001F600");
  EXPECT_EQ(t.decode({emoji[0]}), "\uFFFD");
  EXPECT_EQ(t.decode({emoji[0], 12092}), "\uFFFDHello");
}

TEST(TokenizerTest, RoundTripIsNfc) {
  const Tokenizer& t = neox();
  const std::vector<std::string> texts = {"Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬…æ",
                                          "Ǆemal e\u0301 \u1100\u1161\u11a8",
                                          "\u0958 \u2126 \uf900",
                                          "日本語のテキスト、中文。한국어 텍스트",
                                          "👨‍👩‍👧 👍🏽 🇫🇷 1️⃣",
                                          "line1\r\nline2\r\n\r\n",
                                          "\t\ttabs\tand  spaces   ",
                                          "\u00a0\u2028\u2029\u3000\u0085",
                                          "a\x00b\x1f\x7f",
                                          "<|endoftext|>e\u0301<|padding|>",
                                          "'s 'S 're 'RE",
                                          "x = 1.5e-3; // 12,345,678"};
  for (const auto& s : texts) EXPECT_EQ(t.decode(t.encode(s)), nfc_normalize(s)) << s;
}

TEST(TokenizerTest, EncodeIsThreadSafe) {
  const Tokenizer& t = neox();
  const std::string text = test::read_file(test::data("tokenizers/gpt-neox-20b/golden.inp"));
  const Ids expected = t.encode(text);
  std::vector<Ids> got(4);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 20; ++rep) got[k] = t.encode(text);
    });
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

TEST(TokenizerTest, EncodeAppendAndCopiesShareData) {
  const Tokenizer copy = neox();
  Ids ids = {7};
  copy.encode_append("Hello", ids);
  EXPECT_EQ(ids, (Ids{7, 12092}));
}

TEST(TokenizerTest, FindTokenizer) {
  test::TempDir dir;
  EXPECT_EQ(find_tokenizer(dir.path()), std::nullopt);
  test::write_file(dir.file("tokenizer.json"), "{}");
  EXPECT_EQ(find_tokenizer(dir.path()), dir.file("tokenizer.json"));
  EXPECT_EQ(find_tokenizer(dir.file("missing")), std::nullopt);
}

}  // namespace
}  // namespace rcc
