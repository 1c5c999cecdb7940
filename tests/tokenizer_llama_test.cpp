// The tokenizers of current base models against Hugging Face tokenizers (fixtures made by
// tests/reference/make_llama_tokenizer_fixtures.mjs): Llama 3 and Qwen 3 (Split regex + ByteLevel,
// ignore_merges, NFC, special tokens), Mistral 7B v0.1 (the Llama 2 pipeline: SentencePiece-style
// BPE on code points with byte fallback, Prepend/Replace normalizers, ByteFallback/Fuse/Strip
// decoders), and variants of the
// bundled files (tests/fixtures/tokenizer/llama_variants.json: Metaspace with each prepend scheme,
// Split behaviours, invert, Replace/Prepend normalizers). Every id and every decoded text must be
// equal.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const char* kRegen =
    "; regenerate with: node tests/reference/make_llama_tokenizer_fixtures.mjs --root . --out "
    "tests/fixtures/tokenizer (see tests/reference/README.md)";

std::string fixture_path(const std::string& name) {
  const std::string p = test::fixture("tokenizer/" + name);
  if (!std::filesystem::exists(p)) throw std::runtime_error("missing fixture " + p + kRegen);
  return p;
}

const std::vector<std::string>& corpus_chunks() {
  static const std::vector<std::string> chunks =
      test::split_on(test::read_maybe_gz(fixture_path("corpus.txt.gz")), '\x1e');
  return chunks;
}

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// tokenizer.json text of a bundled tokenizer, or of a variant of llama_variants.json.
std::string tokenizer_json(const std::string& name) {
  static const std::map<std::string, std::string> bundled = {
      {"llama-3", "tokenizers/llama-3/tokenizer.json.gz"},
      {"qwen3", "tokenizers/qwen3/tokenizer.json.gz"},
      {"mistral-7b-v0.1", "tokenizers/mistral-7b-v0.1/tokenizer.json.gz"}};
  if (auto it = bundled.find(name); it != bundled.end())
    return test::read_maybe_gz(test::data(it->second));
  const json variants = json::parse(test::read_maybe_gz(fixture_path("llama_variants.json")));
  const json& v = variants.at(name);
  std::string base = v.at("base").get<std::string>();
  base = base.substr(std::string("data/").size());
  json j = json::parse(test::read_maybe_gz(test::data(base)));
  for (auto it = v.at("set").begin(); it != v.at("set").end(); ++it) j[it.key()] = it.value();
  return j.dump();
}

struct Tally {
  size_t encoded = 0, ids = 0, decoded = 0, bad = 0;
};

// Every row of NAME_expected.jsonl.gz: encode ids, decode of HF's ids, decode cases.
Tally check_tokenizer(const std::string& name) {
  const Tokenizer t = Tokenizer::from_json(tokenizer_json(name), name);
  Tally tally;
  auto failure = [&](const std::string& what) {
    if (++tally.bad <= 12) ADD_FAILURE() << name << ": " << what;
  };
  for (const auto& line :
       test::split_on(test::read_maybe_gz(fixture_path(name + "_expected.jsonl.gz")), '\n')) {
    if (line.empty()) continue;
    const json row = json::parse(line);
    if (row.contains("decode")) {
      const Ids ids = row["decode"].get<Ids>();
      ++tally.decoded;
      if (t.decode(ids, false) != row["text"].get<std::string>())
        failure("decode " + row["decode"].dump() + " gives " + json(t.decode(ids, false)).dump());
      if (t.decode(ids, true) != row["text_skip"].get<std::string>())
        failure("decode(skip_special) " + row["decode"].dump());
      continue;
    }
    std::string text, what;
    if (row.contains("chunk")) {
      const size_t i = row["chunk"].get<size_t>();
      if (i >= corpus_chunks().size()) {
        failure(std::string("no corpus chunk ") + std::to_string(i) + kRegen);
        continue;
      }
      text = corpus_chunks()[i];
      what = "chunk " + std::to_string(i);
    } else if (row.contains("hex")) {
      text = hex_to_bytes(row["hex"].get<std::string>());
      what = "bytes " + row["hex"].get<std::string>();
    } else {
      text = row.at("text").get<std::string>();
      what = "text " + json(text).dump().substr(0, 200);
    }
    const Ids expected = row.at("ids").get<Ids>();
    const Ids ids = t.encode(text);
    ++tally.encoded;
    tally.ids += expected.size();
    if (ids != expected) {
      failure(what + ": ids differ: got " + json(ids).dump().substr(0, 300) + ", expected " +
              json(expected).dump().substr(0, 300));
    }
    // HF decoded its own ids to "decoded", or to the (repaired) input when the field is absent.
    const std::string hf_decoded =
        row.contains("decoded") ? row["decoded"].get<std::string>() : tok::utf8::to_valid(text);
    if (t.decode(expected) != hf_decoded)
      failure(what + ": decode gives " + json(t.decode(expected)).dump().substr(0, 300));
  }
  std::printf("[ %-30s ] %zu texts, %zu ids, %zu decode cases\n", name.c_str(), tally.encoded,
              tally.ids, tally.decoded);
  return tally;
}

TEST(TokenizerLlama, Llama3MatchesHuggingFace) {
  const Tally t = check_tokenizer("llama-3");
  EXPECT_EQ(t.bad, 0u);
  EXPECT_GT(t.encoded, 1500u);
}

TEST(TokenizerLlama, Qwen3MatchesHuggingFace) {
  const Tally t = check_tokenizer("qwen3");
  EXPECT_EQ(t.bad, 0u);
  EXPECT_GT(t.encoded, 1500u);
}

TEST(TokenizerLlama, Mistral7bLlama2StyleMatchesHuggingFace) {
  const Tally t = check_tokenizer("mistral-7b-v0.1");
  EXPECT_EQ(t.bad, 0u);
  EXPECT_GT(t.encoded, 1500u);
}

TEST(TokenizerLlama, VariantsMatchHuggingFace) {
  const json variants = json::parse(test::read_maybe_gz(fixture_path("llama_variants.json")));
  ASSERT_GE(variants.size(), 5u);
  for (auto it = variants.begin(); it != variants.end(); ++it) {
    SCOPED_TRACE(it.key());
    const Tally t = check_tokenizer(it.key());
    EXPECT_EQ(t.bad, 0u);
    EXPECT_GT(t.encoded, 500u);
  }
}

TEST(TokenizerLlama, SpecialTokensAndBasics) {
  const Tokenizer l3 = Tokenizer::from_json(tokenizer_json("llama-3"), "llama-3");
  EXPECT_EQ(l3.vocab_size(), 128256);
  EXPECT_EQ(l3.encode("<|begin_of_text|>Hello"), (Ids{128000, 9906}));
  EXPECT_TRUE(l3.is_special(128000));
  EXPECT_EQ(l3.decode({128000, 9906}, true), "Hello");
  const Tokenizer m = Tokenizer::from_json(tokenizer_json("mistral-7b-v0.1"), "mistral");
  EXPECT_EQ(m.vocab_size(), 32000);
  EXPECT_EQ(m.encode("Hello world"), (Ids{22557, 1526}));
  EXPECT_EQ(m.encode("[INST]"), (Ids{733, 16289, 28793}));
  EXPECT_EQ(m.decode({1, 22557, 1526}), "<s> Hello world");
  EXPECT_EQ(m.decode({1, 22557, 1526}, true), "Hello world");
  EXPECT_EQ(m.encode("\xF0\x9F\xA6\x80"), (Ids{28705, 243, 162, 169, 131}));  // byte fallback
}

}  // namespace
}  // namespace rcc
