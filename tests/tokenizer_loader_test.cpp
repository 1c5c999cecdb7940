// tokenizer.json loading: a tiny hand-built tokenizer, and every kind of bad file the loader must
// reject with an rcc::Error that names the field (never a crash, never a half-loaded tokenizer).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rcc {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

json tiny() {
  return test::tiny_tokenizer_json();
}

Tokenizer load_json(const json& j) {
  return Tokenizer::from_json(j.dump(), "tiny.json");
}

// Loading `j` must throw an rcc::Error whose message contains `needle` (and the origin).
void expect_error(const json& j, const std::string& needle) {
  try {
    load_json(j);
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tiny.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoader, TinyTokenizerWorks) {
  Tokenizer t = load_json(tiny());
  EXPECT_EQ(t.vocab_size(), 261);
  EXPECT_EQ(t.encode("hello"), (Ids{259}));
  EXPECT_EQ(t.encode("hello<s>hel"), (Ids{259, 260, 256, 'l'}));
  EXPECT_EQ(t.decode({259, 260, 256}), "hello<s>he");
  EXPECT_EQ(t.decode({259, 260, 256}, true), "hellohe");
  // The newer merges format: pairs.
  json j = tiny();
  j["model"]["merges"] = json::array({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}});
  EXPECT_EQ(load_json(j).encode("hello"), (Ids{259}));
}

TEST(TokenizerLoader, OptionalPartsAndFlags) {
  json j = tiny();
  j.erase("added_tokens");
  j["normalizer"] = nullptr;
  j["post_processor"] = {{"type", "TemplateProcessing"}};  // adds nothing without special tokens
  EXPECT_EQ(load_json(j).encode("e\u0301"), (Ids{'e', 0xCC, 0x81}));  // no NFC: raw bytes
  j = tiny();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  // " hello" with prefix space: 'Ġ' (id of byte 0x20) then "hello".
  Tokenizer p = load_json(j);
  EXPECT_EQ(p.encode("hello"), (Ids{*p.token_id("Ġ"), 259}));
  EXPECT_EQ(p.encode(" hello"), (Ids{*p.token_id("Ġ"), 259}));
}

TEST(TokenizerLoader, RejectsUnreadableOrNonJsonFiles) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), Error);
  try {
    Tokenizer::load("/nonexistent/tokenizer.json");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json"), std::string::npos);
  }
  for (const char* text : {"", "garbage", "{", "[1,2,3]", "null", "{\"model\": }", "\xFF\xFE"}) {
    EXPECT_THROW(Tokenizer::from_json(text, "x.json"), Error) << text;
  }
}

TEST(TokenizerLoader, RejectsTruncatedRealFile) {
  const std::string full = test::read_file(test::neox_tokenizer_path());
  for (size_t len : {size_t{1}, size_t{1000}, size_t{300000}, full.size() - 2}) {
    try {
      Tokenizer::from_json(std::string_view(full).substr(0, len), "neox.json");
      ADD_FAILURE() << "truncated to " << len << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("neox.json: not valid JSON"), std::string::npos)
          << e.what();
    }
  }
}

TEST(TokenizerLoader, RejectsBadTopLevelFields) {
  expect_error(json::array(), "expected a JSON object");
  json j = tiny();
  j.erase("model");
  expect_error(j, "model: missing");
  j = tiny();
  j["truncation"] = {{"max_length", 8}};
  expect_error(j, "truncation");
  j = tiny();
  j["padding"] = {{"strategy", "BatchLongest"}};
  expect_error(j, "padding");
  j = tiny();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error(j, "normalizer.type");
  j = tiny();
  j["normalizer"] = "NFC";
  expect_error(j, "normalizer");
  j = tiny();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(j, "pre_tokenizer.type");
  j = tiny();
  j.erase("pre_tokenizer");  // allowed (as in Hugging Face): the model then sees code points
  EXPECT_NO_THROW(Tokenizer::from_json(j.dump()));
  j = tiny();
  j["pre_tokenizer"]["use_regex"] = "yes";
  expect_error(j, "pre_tokenizer.use_regex");
  j = tiny();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "decoder.type");
  j = tiny();
  j["decoder"] = {{"no_type", 1}};
  expect_error(j, "decoder.type: missing");
}

TEST(TokenizerLoader, RejectsBadModel) {
  json j = tiny();
  j["model"]["type"] = "Unigram";
  expect_error(j, "model.type");
  j = tiny();
  j["model"]["dropout"] = 0.1;
  expect_error(j, "model.dropout");
  j = tiny();
  j["model"]["continuing_subword_prefix"] = "##";
  expect_error(j, "model.continuing_subword_prefix");
  j = tiny();
  j["model"]["vocab"] = json::array();
  expect_error(j, "model.vocab");
  j = tiny();
  j["model"]["vocab"] = json::object();
  expect_error(j, "model.vocab: is empty");
  j = tiny();
  j["model"]["vocab"]["bad"] = -1;
  expect_error(j, "model.vocab[\"bad\"]");
  j = tiny();
  j["model"]["vocab"]["bad"] = "7";
  expect_error(j, "model.vocab[\"bad\"]");
  j = tiny();
  j["model"]["vocab"]["bad"] = 1e20;
  expect_error(j, "model.vocab[\"bad\"]");
  j = tiny();
  j["model"]["vocab"]["bad"] = 18446744073709551615ull;
  expect_error(j, "out of range");
  j = tiny();
  j["model"]["vocab"]["far"] = 5000;
  expect_error(j, "too sparse");
  j = tiny();
  j["model"]["vocab"]["dup"] = 259;
  expect_error(j, "used by both");
  j = tiny();
  j["model"]["unk_token"] = "<unk>";
  expect_error(j, "model.unk_token");
  j = tiny();
  j["model"]["ignore_merges"] = 1;
  expect_error(j, "model.ignore_merges");
}

TEST(TokenizerLoader, RejectsBadMerges) {
  json j = tiny();
  j["model"]["merges"] = "h e";
  expect_error(j, "model.merges: expected an array");
  j = tiny();
  j["model"].erase("merges");
  expect_error(j, "model.merges: missing");
  for (const json& bad :
       {json("he"), json("h e l"), json(7), json::array({"h"}), json::array({"h", 3})}) {
    j = tiny();
    j["model"]["merges"].push_back(bad);
    expect_error(j, "model.merges[4]");
  }
  j = tiny();
  j["model"]["merges"].push_back("x q");  // "xq" is not in the vocabulary
  expect_error(j, "merged token \"xq\"");
  j = tiny();
  j["model"]["merges"].push_back("zz y");
  expect_error(j, "token \"zz\" is not in model.vocab");
}

TEST(TokenizerLoader, RejectsBadAddedTokens) {
  json j = tiny();
  j["added_tokens"] = json::object();
  expect_error(j, "added_tokens: expected an array");
  j = tiny();
  j["added_tokens"][0].erase("content");
  expect_error(j, "added_tokens[0].content: missing");
  j = tiny();
  j["added_tokens"][0]["id"] = 300;  // Hugging Face would assign 260
  expect_error(j, "added_tokens[0].id");
  j = tiny();
  j["added_tokens"][0]["special"] = "true";
  expect_error(j, "added_tokens[0].special");
  j = tiny();
  j["added_tokens"].push_back(j["added_tokens"][0]);
  expect_error(j, "listed twice");
  j = tiny();
  j["added_tokens"].push_back("x");
  expect_error(j, "added_tokens[1]: expected an object");
}

TEST(TokenizerLoader, AddedTokenIdsFollowHuggingFace) {
  json j = tiny();
  // A token already in the vocabulary keeps its id; the next new one follows the vocabulary.
  j["added_tokens"] = json::array({{{"id", 259}, {"content", "hello"}, {"special", true}},
                                   {{"id", 260}, {"content", "<s>"}, {"special", true}},
                                   {{"id", 261}, {"content", "</s>"}, {"special", true}}});
  Tokenizer t = load_json(j);
  EXPECT_EQ(t.vocab_size(), 262);
  EXPECT_EQ(t.encode("<s>hello</s>"), (Ids{260, 259, 261}));
  EXPECT_EQ(t.decode({260, 259, 261}, true), "");
  // Empty contents are ignored, as Hugging Face does.
  j["added_tokens"].push_back({{"id", 262}, {"content", ""}});
  EXPECT_EQ(load_json(j).vocab_size(), 262);
}

}  // namespace
}  // namespace rcc
