// tokenizer.json -> Tokenizer::Impl. Validates every field it uses and rejects configurations it
// does not implement, so a file either loads with Hugging Face's behaviour or fails loudly.
#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "core/json_fields.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_load_pipeline.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace rcc {

namespace {

using nlohmann::json;
using tok::AddedToken;

constexpr int64_t kMaxId = (int64_t{1} << 24) - 1;  // generous; keeps the id tables bounded

class Loader {
 public:
  explicit Loader(const std::string& origin) : origin_(origin) {}

  std::shared_ptr<const Tokenizer::Impl> run(std::string_view text) {
    const json root = parse_json(text, origin_);
    RCC_CHECK(root.is_object(), origin_, ": expected a JSON object at the top level");
    auto impl = std::make_shared<Tokenizer::Impl>();
    static std::atomic<uint64_t> next_serial{1};
    impl->serial = next_serial++;
    im_ = impl.get();
    check_unsupported_top(root);
    read_tokenizer_pipeline(root, origin_, *im_);
    read_model(require(root, "model", "model"));
    read_added_tokens(root);
    finish();
    return impl;
  }

 private:
  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail(origin_, ": ", field, ": ", what);
  }
  // A member that is absent or null yields nullptr.
  const json* member(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const json& obj, const char* key, const std::string& field) const {
    const json* v = member(obj, key);
    if (!v) bad(field, "missing");
    return *v;
  }
  const json& require_object(const json& obj, const char* key, const std::string& field) const {
    const json& v = require(obj, key, field);
    if (!v.is_object()) bad(field, "expected an object");
    return v;
  }
  std::string get_string(const json& v, const std::string& field) const {
    if (!v.is_string()) bad(field, "expected a string");
    return v.get<std::string>();
  }
  bool get_bool(const json& obj, const char* key, bool dflt, const std::string& field) const {
    const json* v = member(obj, key);
    if (!v) return dflt;
    if (!v->is_boolean()) bad(field, "expected true or false");
    return v->get<bool>();
  }
  int32_t get_id(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) bad(field, "expected an integer id");
    int64_t id =
        v.is_number_unsigned()
            ? static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), uint64_t(kMaxId) + 1))
            : v.get<int64_t>();
    if (id < 0 || id > kMaxId)
      bad(field, str_cat("id ", v.dump(), " is out of range [0, ", kMaxId, "]"));
    return static_cast<int32_t>(id);
  }
  std::string type_of(const json& obj, const std::string& field) const {
    if (!obj.is_object()) bad(field, "expected an object");
    return get_string(require(obj, "type", field + ".type"), field + ".type");
  }

  void check_unsupported_top(const json& root) const {
    // Truncation and padding change what encode() returns; not implemented, so refuse them.
    if (member(root, "truncation")) bad("truncation", "must be null (truncation is not supported)");
    if (member(root, "padding")) bad("padding", "must be null (padding is not supported)");
    // Any post_processor is fine: encode() is encode(add_special_tokens=False), for which Hugging
    // Face's post-processors add no tokens.
  }

  void read_model(const json& model) {
    if (!model.is_object()) bad("model", "expected an object");
    std::string type = type_of(model, "model");
    if (type != "BPE") bad("model.type", "\"" + type + "\" is not supported (only BPE)");
    if (const json* d = member(model, "dropout")) {
      if (!d->is_number() || d->get<double>() != 0.0)
        bad("model.dropout", "must be null or 0 (BPE dropout is not supported)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (const json* v = member(model, key)) {
        if (!get_string(*v, std::string("model.") + key).empty())
          bad(std::string("model.") + key, "must be null or empty (not supported)");
      }
    }
    im_->bpe.ignore_merges = get_bool(model, "ignore_merges", false, "model.ignore_merges");

    const json& vocab = require_object(model, "vocab", "model.vocab");
    int64_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      int32_t id = get_id(it.value(), "model.vocab[\"" + it.key() + "\"]");
      im_->model_vocab.emplace(it.key(), id);
      max_id = std::max<int64_t>(max_id, id);
    }
    if (im_->model_vocab.empty()) bad("model.vocab", "is empty");
    // Real vocabularies number their tokens 0..n-1; refusing very sparse ids keeps a small hostile
    // file from making the id tables huge.
    const int64_t count = static_cast<int64_t>(im_->model_vocab.size());
    if (max_id >= 2 * count + 1024)
      bad("model.vocab",
          str_cat("ids are too sparse: the largest is ", max_id, " for ", count, " tokens"));
    grow_ids(max_id);
    for (const auto& [token, id] : im_->model_vocab) {
      if (im_->flags[id] & Tokenizer::Impl::kKnown)
        bad("model.vocab",
            str_cat("id ", id, " is used by both \"", im_->tokens[id], "\" and \"", token, "\""));
      im_->flags[id] = Tokenizer::Impl::kKnown;
      im_->tokens[id] = token;
    }
    if (im_->bpe.byte_level) {
      // The 256 single-byte symbols every byte-level word starts from (missing ones: see bpe.h).
      for (int b = 0; b < 256; ++b) {
        auto it = im_->model_vocab.find(tok::bytes_to_token(std::string(1, char(b))));
        im_->bpe.byte_ids[b] = it == im_->model_vocab.end() ? -1 : it->second;
        // Bytes C0, C1 and F5..FF never occur in UTF-8, and encode() only sees valid UTF-8.
        const bool can_occur = b < 0xC0 || (b > 0xC1 && b < 0xF5);
        if (it == im_->model_vocab.end() && can_occur) im_->bpe.has_missing_bytes = true;
      }
    } else {
      // Symbols are code points: the tokens made of one code point.
      im_->bpe.byte_ids.fill(-1);
      im_->bpe.has_missing_bytes = true;
      for (const auto& [token, id] : im_->model_vocab) {
        const auto* p = reinterpret_cast<const unsigned char*>(token.data());
        if (tok::utf8::sequence_length(p, token.size()) != token.size()) continue;
        size_t len = 0;
        const char32_t cp = tok::utf8::decode(p, &len);
        if (cp < 128) {
          im_->bpe.byte_ids[cp] = id;
        } else {
          im_->bpe.char_ids.emplace(cp, id);
        }
      }
    }
    // Byte fallback tokens: "<0x0A>" (Rust's {:#04X}: "0x", then two upper-case hex digits).
    im_->bpe.byte_fallback = get_bool(model, "byte_fallback", false, "model.byte_fallback");
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = im_->model_vocab.find(name);
      im_->bpe.fallback_ids[b] = it == im_->model_vocab.end() ? -1 : it->second;
    }
    if (const json* unk = member(model, "unk_token")) {
      std::string u = get_string(*unk, "model.unk_token");
      auto it = im_->model_vocab.find(u);
      if (it == im_->model_vocab.end())
        bad("model.unk_token", "\"" + u + "\" is not in model.vocab");
      im_->bpe.unk_id = it->second;
    }
    im_->bpe.fuse_unk = get_bool(model, "fuse_unk", false, "model.fuse_unk");
    if (im_->bpe.ignore_merges) {
      std::string bytes;
      for (const auto& [token, id] : im_->model_vocab) {
        if (!im_->bpe.byte_level) {
          im_->bpe.word_ids.emplace(token, id);
        } else if (tok::token_to_bytes(token, bytes)) {
          im_->bpe.word_ids.emplace(bytes, id);
        }
      }
    }
    read_merges(require(model, "merges", "model.merges"));
  }

  void read_merges(const json& merges) {
    if (!merges.is_array()) bad("model.merges", "expected an array");
    im_->bpe.merges.reserve(merges.size());
    int32_t rank = 0;
    for (const json& m : merges) {
      const std::string field = str_cat("model.merges[", rank, "]");
      std::string a, b;
      if (m.is_string()) {  // "a b"
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          bad(field, "expected two tokens separated by one space, got \"" + s + "\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {  // ["a", "b"]
        a = get_string(m[0], field + "[0]");
        b = get_string(m[1], field + "[1]");
      } else {
        bad(field, "expected \"a b\" or [\"a\", \"b\"]");
      }
      auto ia = im_->model_vocab.find(a), ib = im_->model_vocab.find(b);
      auto im = im_->model_vocab.find(a + b);
      if (ia == im_->model_vocab.end()) bad(field, "token \"" + a + "\" is not in model.vocab");
      if (ib == im_->model_vocab.end()) bad(field, "token \"" + b + "\" is not in model.vocab");
      if (im == im_->model_vocab.end())
        bad(field, "merged token \"" + a + b + "\" is not in model.vocab");
      im_->bpe.merges.insert(ia->second, ib->second, rank, im->second);
      ++rank;
    }
  }

  void read_added_tokens(const json& root) {
    const json* list = member(root, "added_tokens");
    if (!list) return;
    if (!list->is_array()) bad("added_tokens", "expected an array");
    // Hugging Face assigns ids itself: an existing token keeps its id, a new one gets the next id
    // after the model vocabulary (counted in entries). The file must agree with that.
    const int64_t model_size = static_cast<int64_t>(im_->model_vocab.size());
    int64_t max_added = -1;
    for (size_t i = 0; i < list->size(); ++i) {
      const json& t = (*list)[i];
      const std::string field = str_cat("added_tokens[", i, "]");
      if (!t.is_object()) bad(field, "expected an object");
      AddedToken a;
      a.content = get_string(require(t, "content", field + ".content"), field + ".content");
      a.id = get_id(require(t, "id", field + ".id"), field + ".id");
      a.special = get_bool(t, "special", false, field + ".special");
      a.normalized = get_bool(t, "normalized", !a.special, field + ".normalized");
      a.lstrip = get_bool(t, "lstrip", false, field + ".lstrip");
      a.rstrip = get_bool(t, "rstrip", false, field + ".rstrip");
      a.single_word = get_bool(t, "single_word", false, field + ".single_word");
      if (a.content.empty()) continue;  // ignored by Hugging Face too
      if (im_->added_vocab.count(a.content))
        bad(field, "content \"" + a.content + "\" is listed twice");
      int64_t expected;
      if (auto it = im_->model_vocab.find(a.content); it != im_->model_vocab.end()) {
        expected = it->second;
      } else if (max_added < 0) {
        expected = model_size;
      } else {
        expected = max_added >= model_size ? max_added + 1 : model_size;
      }
      if (a.id != expected)
        bad(field + ".id", str_cat("is ", a.id, ", but Hugging Face would give \"", a.content,
                                   "\" id ", expected));
      max_added = std::max<int64_t>(max_added, a.id);
      im_->added_vocab.emplace(a.content, a.id);
      im_->added.push_back(a);
    }
  }

  void grow_ids(int64_t max_id) {
    if (max_id < static_cast<int64_t>(im_->flags.size())) return;
    im_->flags.resize(static_cast<size_t>(max_id) + 1, 0);
    im_->tokens.resize(static_cast<size_t>(max_id) + 1);
  }

  void finish() {
    int64_t max_id = -1;
    for (const auto& a : im_->added) max_id = std::max<int64_t>(max_id, a.id);
    grow_ids(max_id);
    // An added token's string (for id_to_token and decode) is its content, normalized when the
    // token is normalized (Hugging Face >= 0.20 keeps that "normalized cache" for decoding). It
    // wins over the model's string for the same id.
    std::unordered_set<std::string> special;
    auto normalized_content = [&](const AddedToken& a) {
      std::string n;
      return a.normalized && tok::normalize(im_->normalizers, a.content, n) ? n : a.content;
    };
    for (const auto& a : im_->added) {
      im_->tokens[a.id] = normalized_content(a);
      im_->flags[a.id] |= Tokenizer::Impl::kKnown;
      if (a.special) special.insert(a.content);
    }
    // decode() bytes per id: the ByteLevel decoder maps a token's characters back to bytes when
    // all of them are in the byte alphabet, else it keeps the token's own UTF-8. "Special" is
    // decided on that string, as Hugging Face does.
    im_->decoded.resize(im_->tokens.size());
    std::string bytes;
    for (size_t id = 0; id < im_->tokens.size(); ++id) {
      if (!(im_->flags[id] & Tokenizer::Impl::kKnown)) continue;
      const std::string& t = im_->tokens[id];
      im_->decoded[id] = tok::token_to_bytes(t, bytes) ? bytes : t;
      if (special.count(t)) im_->flags[id] |= Tokenizer::Impl::kSpecial;
    }
    // Matching order as in Hugging Face: special tokens first, then the others (this decides
    // only between identical patterns).
    std::vector<tok::AddedTokenSplitter::Pattern> raw, normalized;
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& a : im_->added) {
        if (a.special != (pass == 0)) continue;
        tok::AddedTokenSplitter::Pattern p;
        p.id = a.id;
        p.lstrip = a.lstrip;
        p.rstrip = a.rstrip;
        p.single_word = a.single_word;
        if (a.normalized) {
          p.bytes = normalized_content(a);
          normalized.push_back(std::move(p));
        } else {
          p.bytes = a.content;
          raw.push_back(std::move(p));
        }
      }
    }
    im_->raw_split = tok::AddedTokenSplitter(std::move(raw));
    im_->normalized_split = tok::AddedTokenSplitter(std::move(normalized));
  }

  const std::string& origin_;
  Tokenizer::Impl* im_ = nullptr;
};

}  // namespace

std::shared_ptr<const Tokenizer::Impl> load_tokenizer_impl(std::string_view json,
                                                           const std::string& origin) {
  try {
    return Loader(origin).run(json);
  } catch (const nlohmann::json::exception& e) {
    fail(origin, ": malformed tokenizer.json (", e.what(), ")");
  }
}

}  // namespace rcc
