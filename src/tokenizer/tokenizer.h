// BPE tokenizer loaded from a Hugging Face tokenizer.json (GPT-NeoX / Pythia, Llama 3, Qwen 2/3,
// Llama 2 / Mistral and others of these kinds), producing the same ids as Hugging Face
// `tokenizers` (Tokenizer.encode(text, add_special_tokens=False)) and the same text as its
// decode().
//
// Supported tokenizer.json: model BPE (merges as "a b" strings or [a, b] pairs; no dropout,
// continuing_subword_prefix or end_of_word_suffix; ignore_merges, unk_token, fuse_unk,
// byte_fallback); normalizer NFC, Prepend, Replace, Sequence or null; pre_tokenizer ByteLevel,
// Split, Metaspace, Sequence or null; decoder ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
// Strip, Sequence or null; any post_processor (none adds tokens with add_special_tokens=False,
// which is what encode() computes); added_tokens with their special/normalized/lstrip/rstrip/
// single_word flags. Anything else is rejected with an rcc::Error naming the file and field.
//
// Encoding, step by step (see docs/tokenizer.md):
//  1. invalid UTF-8 is repaired: every maximal invalid subpart becomes U+FFFD (what Python's
//     bytes.decode("utf-8", "replace") gives; HF's Python bindings only accept str, so this is the
//     text they would see). encode() never throws on any input.
//  2. added tokens with normalized=false are split out of the raw text;
//  3. each remaining piece is normalized, then added tokens with normalized=true are split out of
//     it;
//  4. each remaining piece goes through the pre-tokenizers (e.g. the GPT-2 split) and every
//     pre-token is run through BPE (with a per-thread cache of frequent words).
// decode() concatenates the tokens' bytes (byte-level tokens map back to raw bytes; added tokens,
// and any token with a character outside the byte alphabet, contribute their UTF-8 as is), then
// repairs invalid UTF-8 with U+FFFD like Rust's String::from_utf8_lossy. Unknown ids are skipped,
// as Hugging Face does. For valid UTF-8 x: decode(encode(x)) == NFC(x).
//
// A Tokenizer is immutable after load; copies share their data; encode/decode are thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rcc {

class Tokenizer {
 public:
  // Reads and validates a tokenizer.json; throws rcc::Error naming the file and the bad field.
  static Tokenizer load(const std::string& path);
  // The same from JSON text; `origin` names it in error messages.
  static Tokenizer from_json(std::string_view json, const std::string& origin = "tokenizer.json");

  std::vector<int32_t> encode(std::string_view text) const;
  // Appends to `ids` (no clearing): lets callers reuse one buffer.
  void encode_append(std::string_view text, std::vector<int32_t>& ids) const;

  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  // One past the largest id (model vocabulary and added tokens together): 50277 for GPT-NeoX.
  int64_t vocab_size() const;
  // The id of a token string as stored in tokenizer.json (added tokens first, then the model's
  // vocabulary, byte-level spelled: "Ġthe"), or nullopt.
  std::optional<int32_t> token_id(std::string_view token) const;
  // The token string of an id, or nullopt for an unknown id: the model's string, or an added
  // token's content (NFC-normalized for normalized added tokens, as Hugging Face returns it).
  std::optional<std::string> id_to_token(int32_t id) const;
  // True for ids of added tokens marked special (skipped by decode(ids, true)).
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// model_dir/tokenizer.json when that file exists, else nullopt.
std::optional<std::string> find_tokenizer(const std::string& model_dir);

// The NFC form of valid UTF-8 text (utf8proc), as the tokenizer's normalizer computes it.
std::string nfc_normalize(std::string_view text);

}  // namespace rcc
