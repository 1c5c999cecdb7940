// rcc::Tokenizer: the encode/decode pipeline over the data loaded by tokenizer_load.cpp.
#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/text_file.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace rcc {

using tok::WordCache;

Tokenizer Tokenizer::load(const std::string& path) {
  return from_json(read_text_file(path), path);
}

Tokenizer Tokenizer::from_json(std::string_view json, const std::string& origin) {
  return Tokenizer(load_tokenizer_impl(json, origin));
}

void Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  std::string prefixed;
  if (add_prefix_space && piece[0] != ' ') {
    prefixed.reserve(piece.size() + 1);
    prefixed += ' ';
    prefixed += piece;
    piece = prefixed;
  }
  WordCache& cache = WordCache::for_tokenizer(serial);
  auto encode_word = [&](size_t begin, size_t end) {
    const std::string_view w = piece.substr(begin, end - begin);
    if (w.size() == 1 && !bpe.ignore_merges && !bpe.has_missing_bytes) {
      ids.push_back(bpe.byte_ids[static_cast<unsigned char>(w[0])]);
      return;
    }
    if (w.size() > WordCache::kMaxWordBytes) {
      bpe.encode_word(w, ids);
      return;
    }
    const uint64_t h = WordCache::hash(w);
    uint32_t n = 0;
    if (const int32_t* cached = cache.find(w, h, &n)) {
      for (uint32_t k = 0; k < n; ++k) ids.push_back(cached[k]);  // n is small: no memmove call
      return;
    }
    const size_t before = ids.size();
    bpe.encode_word(w, ids);
    cache.insert(w, h, ids.data() + before, static_cast<uint32_t>(ids.size() - before));
  };
  if (use_regex) {
    tok::split_gpt2(piece, encode_word);
  } else {
    encode_word(0, piece.size());
  }
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& ids) const {
  const Impl& im = *impl_;
  std::string repaired;
  if (!tok::utf8::is_valid(text)) {
    tok::utf8::append_lossy(text, repaired);
    text = repaired;
  }
  auto push_id = [&](int32_t id) { ids.push_back(id); };
  std::string normalized;
  im.raw_split.split(
      text,
      [&](std::string_view piece) {
        if (im.nfc && tok::nfc_if_changed(piece, normalized)) piece = normalized;
        im.normalized_split.split(
            piece, [&](std::string_view p) { im.encode_piece(p, ids); }, push_id);
      },
      push_id);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 4);
  encode_append(text, ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Impl& im = *impl_;
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= im.flags.size()) continue;  // unknown: skipped
    const uint8_t f = im.flags[id];
    if (!(f & Impl::kKnown) || (skip_special && (f & Impl::kSpecial))) continue;
    bytes += im.decoded[id];
  }
  if (tok::utf8::is_valid(bytes)) return bytes;
  return tok::utf8::to_valid(bytes);
}

int64_t Tokenizer::vocab_size() const {
  return static_cast<int64_t>(impl_->flags.size());
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  const std::string key(token);
  if (auto it = impl_->added_vocab.find(key); it != impl_->added_vocab.end()) return it->second;
  if (auto it = impl_->model_vocab.find(key); it != impl_->model_vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->flags.size()) return std::nullopt;
  if (!(impl_->flags[id] & Impl::kKnown)) return std::nullopt;
  return impl_->tokens[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->flags.size() &&
         (impl_->flags[id] & Impl::kSpecial);
}

std::optional<std::string> find_tokenizer(const std::string& model_dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::path(model_dir) / "tokenizer.json";
  if (std::filesystem::is_regular_file(p, ec)) return p.string();
  return std::nullopt;
}

std::string nfc_normalize(std::string_view text) {
  return tok::nfc(text);
}

}  // namespace rcc
