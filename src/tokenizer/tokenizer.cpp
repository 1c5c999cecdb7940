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

void Tokenizer::Impl::encode_word(std::string_view w, WordCache& cache,
                                  std::vector<int32_t>& ids) const {
  if (w.size() == 1 && bpe.byte_ids[static_cast<unsigned char>(w[0])] >= 0) {
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
}

void Tokenizer::Impl::pre_tokenize(size_t k, std::string_view piece, bool at_origin,
                                   WordCache& cache, std::vector<int32_t>& ids) const {
  if (k == pre_tokenizers.size()) {
    encode_word(piece, cache, ids);
    return;
  }
  const tok::PreTokenizerStep& st = pre_tokenizers[k];
  auto next = [&](std::string_view s) {
    return [&, s](size_t b, size_t e) {
      pre_tokenize(k + 1, s.substr(b, e - b), at_origin && b == 0, cache, ids);
    };
  };
  switch (st.kind) {
    case tok::PreTokenizerStep::kGpt2:
      tok::split_gpt2(piece, next(piece));
      return;
    case tok::PreTokenizerStep::kSplit: {
      std::vector<std::pair<size_t, size_t>> matches;
      st.pattern.find_all(piece, matches);
      tok::split_by_matches(piece.size(), matches, st.invert, st.behavior, next(piece));
      return;
    }
    case tok::PreTokenizerStep::kMetaspace: {
      // Every ' ' becomes the replacement; the replacement is prepended (scheme permitting) unless
      // the piece starts with it; with split, each replacement starts a new piece.
      std::string s;
      s.reserve(piece.size() + 8);
      for (char c : piece) {
        if (c == ' ') {
          s += st.replacement;
        } else {
          s += c;
        }
      }
      const bool starts = s.compare(0, st.replacement.size(), st.replacement) == 0;
      if (!starts && (st.prepend == tok::PreTokenizerStep::kAlways ||
                      (st.prepend == tok::PreTokenizerStep::kFirst && at_origin)))
        s.insert(0, st.replacement);
      if (!st.split) {
        pre_tokenize(k + 1, s, at_origin, cache, ids);
        return;
      }
      std::vector<std::pair<size_t, size_t>> matches;
      for (size_t pos = s.find(st.replacement); pos != std::string::npos;
           pos = s.find(st.replacement, pos + st.replacement.size()))
        matches.emplace_back(pos, pos + st.replacement.size());
      tok::split_by_matches(s.size(), matches, false, tok::SplitBehavior::kMergedWithNext, next(s));
      return;
    }
    case tok::PreTokenizerStep::kByteLevel: {
      std::string prefixed;
      if (st.add_prefix_space && piece[0] != ' ') {
        prefixed.reserve(piece.size() + 1);
        prefixed += ' ';
        prefixed += piece;
        piece = prefixed;
      }
      if (st.use_regex) {
        tok::split_gpt2(piece, next(piece));
      } else {
        pre_tokenize(k + 1, piece, at_origin, cache, ids);
      }
      return;
    }
  }
}

void Tokenizer::Impl::encode_piece(std::string_view piece, bool at_origin,
                                   std::vector<int32_t>& ids) const {
  pre_tokenize(0, piece, at_origin, WordCache::for_tokenizer(serial), ids);
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
        const bool raw_at_origin = piece.data() == text.data();
        if (tok::normalize(im.normalizers, piece, normalized)) piece = normalized;
        im.normalized_split.split(
            piece,
            [&](std::string_view p) {
              im.encode_piece(p, raw_at_origin && p.data() == piece.data(), ids);
            },
            push_id);
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
  auto keep = [&](int32_t id) {
    if (id < 0 || static_cast<size_t>(id) >= im.flags.size()) return false;  // unknown: skipped
    const uint8_t f = im.flags[id];
    return (f & Impl::kKnown) && !(skip_special && (f & Impl::kSpecial));
  };
  if (im.has_decoder && im.byte_level_decoder) {
    std::string bytes;
    for (int32_t id : ids)
      if (keep(id)) bytes += im.decoded[id];
    if (tok::utf8::is_valid(bytes)) return bytes;
    return tok::utf8::to_valid(bytes);
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids)
    if (keep(id)) tokens.push_back(im.tokens[id]);
  if (im.has_decoder) return tok::decode_tokens(im.decoders, std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
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
