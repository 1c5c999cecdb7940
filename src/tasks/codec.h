// Text <-> token ids for training data and evaluation. Two kinds:
// - the model's tokenizer.json (byte-level BPE, tokenizer/), for real text;
// - a word-level vocabulary built by rcc (vocab.json in the model directory): ids 0 <eos>,
//   1 <pad>, 2 <unk>, then the digits 0–9 and punctuation as single tokens, then words. Text is
//   split at whitespace; every digit and punctuation character is a token of its own (so a 5-digit
//   key is always 5 tokens); decode joins tokens with spaces. Small vocabularies make tiny models
//   learn synthetic tasks (passkey, facts, bAbI-like stories) in minutes on a CPU.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rcc {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t eos() const = 0;
};

class WordVocab : public TextCodec {
 public:
  // Specials, digits and punctuation, then `words` (duplicates ignored) in order.
  explicit WordVocab(const std::vector<std::string>& words);
  static WordVocab load(
      const std::string& path);  // vocab.json: {"format":"rcc-words","words":[..]}
  void save(const std::string& path) const;

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override { return int64_t(tokens_.size()); }
  int32_t eos() const override { return 0; }
  std::optional<int32_t> id(const std::string& token) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

class BpeCodec : public TextCodec {
 public:
  explicit BpeCodec(Tokenizer t, int32_t eos = 0) : tok_(std::move(t)), eos_(eos) {}
  std::vector<int32_t> encode(const std::string& text) const override { return tok_.encode(text); }
  std::string decode(const std::vector<int32_t>& ids) const override { return tok_.decode(ids); }
  int64_t vocab_size() const override { return tok_.vocab_size(); }
  int32_t eos() const override { return eos_; }

 private:
  Tokenizer tok_;
  int32_t eos_;
};

// The codec of a model directory: vocab.json (word-level) if present, else tokenizer.json; null if
// neither exists.
std::unique_ptr<TextCodec> load_codec(const std::string& model_dir);

}  // namespace rcc
