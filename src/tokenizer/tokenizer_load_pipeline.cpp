#include "tokenizer/tokenizer_load_pipeline.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace rcc {

namespace {

using nlohmann::json;
using tok::DecoderStep;
using tok::NormalizerStep;
using tok::PreTokenizerStep;

// The GPT-2 split pattern, which the hand-written scanner of pretokenize.h implements.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class PipelineReader {
 public:
  PipelineReader(const std::string& origin, Tokenizer::Impl& im) : origin_(origin), im_(im) {}

  void run(const json& root) {
    if (const json* n = member(root, "normalizer")) normalizer(*n, "normalizer");
    if (const json* p = member(root, "pre_tokenizer")) pre_tokenizer(*p, "pre_tokenizer");
    for (size_t k = 0; k < im_.pre_tokenizers.size(); ++k) {
      if (im_.pre_tokenizers[k].kind == PreTokenizerStep::kByteLevel &&
          k + 1 != im_.pre_tokenizers.size())
        bad("pre_tokenizer",
            "a ByteLevel pre-tokenizer followed by other pre-tokenizers is not supported "
            "(ByteLevel must come last)");
    }
    // The model sees bytes (as byte-level characters) when a ByteLevel pre-tokenizer ran.
    im_.bpe.byte_level = !im_.pre_tokenizers.empty() &&
                         im_.pre_tokenizers.back().kind == PreTokenizerStep::kByteLevel;
    const json* d = member(root, "decoder");
    im_.has_decoder = d != nullptr;
    im_.byte_level_decoder = false;
    if (d) {
      decoder(*d, "decoder");
      im_.byte_level_decoder =
          im_.decoders.size() == 1 && im_.decoders[0].kind == DecoderStep::kByteLevel;
    }
  }

 private:
  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail(origin_, ": ", field, ": ", what);
  }
  const json* member(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const json& obj, const char* key, const std::string& field) const {
    const json* v = member(obj, key);
    if (!v) bad(field + "." + key, "missing");
    return *v;
  }
  std::string get_string(const json& obj, const char* key, const std::string& field) const {
    const json& v = require(obj, key, field);
    if (!v.is_string()) bad(field + "." + key, "expected a string");
    return v.get<std::string>();
  }
  bool get_bool(const json& obj, const char* key, bool dflt, const std::string& field) const {
    const json* v = member(obj, key);
    if (!v) return dflt;
    if (!v->is_boolean()) bad(field + "." + key, "expected true or false");
    return v->get<bool>();
  }
  size_t get_count(const json& obj, const char* key, const std::string& field) const {
    const json& v = require(obj, key, field);
    if (!v.is_number_unsigned() || v.get<uint64_t>() > (uint64_t{1} << 30))
      bad(field + "." + key, "expected a non-negative integer");
    return static_cast<size_t>(v.get<uint64_t>());
  }
  std::string type_of(const json& obj, const std::string& field) const {
    if (!obj.is_object()) bad(field, "expected an object");
    return get_string(obj, "type", field);
  }
  const json& list(const json& obj, const char* key, const std::string& field) const {
    const json& v = require(obj, key, field);
    if (!v.is_array()) bad(field + "." + key, "expected an array");
    return v;
  }
  // A string holding exactly one character.
  char32_t one_char(const json& obj, const char* key, const std::string& field) const {
    const std::string s = get_string(obj, key, field);
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t len = s.empty() ? 0 : tok::utf8::sequence_length(p, s.size());
    if (len == 0 || len != s.size()) bad(field + "." + key, "expected exactly one character");
    size_t l = 0;
    return tok::utf8::decode(p, &l);
  }
  // {"String": s} or {"Regex": r}.
  tok::Pattern pattern(const json& obj, const std::string& field) const {
    const json& p = require(obj, "pattern", field);
    const std::string f = field + ".pattern";
    if (!p.is_object() || p.size() != 1) bad(f, "expected {\"String\": ...} or {\"Regex\": ...}");
    if (const json* s = member(p, "String")) {
      if (!s->is_string()) bad(f + ".String", "expected a string");
      if (s->get<std::string>().empty())
        bad(f + ".String", "an empty pattern is not supported (it matches everywhere)");
      return tok::Pattern::literal(s->get<std::string>());
    }
    if (const json* r = member(p, "Regex")) {
      if (!r->is_string()) bad(f + ".Regex", "expected a string");
      const std::string where = origin_ + ": " + f + ".Regex";
      return tok::Pattern::regex(r->get<std::string>(), where);
    }
    bad(f, "expected {\"String\": ...} or {\"Regex\": ...}");
  }

  void normalizer(const json& n, const std::string& field) {
    const std::string type = type_of(n, field);
    NormalizerStep st;
    if (type == "Sequence") {
      const json& l = list(n, "normalizers", field);
      for (size_t i = 0; i < l.size(); ++i)
        normalizer(l[i], str_cat(field, ".normalizers[", i, "]"));
      return;
    } else if (type == "NFC") {
      st.kind = NormalizerStep::kNfc;
    } else if (type == "Prepend") {
      st.kind = NormalizerStep::kPrepend;
      st.text = get_string(n, "prepend", field);
    } else if (type == "Replace") {
      st.kind = NormalizerStep::kReplace;
      st.pattern = pattern(n, field);
      st.text = get_string(n, "content", field);
    } else {
      bad(field + ".type", "\"" + type +
                               "\" is not supported (NFC, Prepend, Replace, Sequence of them, "
                               "or null)");
    }
    im_.normalizers.push_back(std::move(st));
  }

  PreTokenizerStep::Prepend prepend_scheme(const json& m, const std::string& field) const {
    PreTokenizerStep::Prepend scheme = PreTokenizerStep::kAlways;  // Hugging Face's default
    if (member(m, "prepend_scheme")) {
      const std::string s = get_string(m, "prepend_scheme", field);
      if (s == "always") {
        scheme = PreTokenizerStep::kAlways;
      } else if (s == "first") {
        scheme = PreTokenizerStep::kFirst;
      } else if (s == "never") {
        scheme = PreTokenizerStep::kNever;
      } else {
        bad(field + ".prepend_scheme", "\"" + s + "\" is not one of always, first, never");
      }
    }
    // Older files: add_prefix_space false needs prepend_scheme "never" (Hugging Face refuses
    // anything else, including the default).
    if (!get_bool(m, "add_prefix_space", true, field) && scheme != PreTokenizerStep::kNever)
      bad(field + ".add_prefix_space", "false does not match prepend_scheme (must be \"never\")");
    return scheme;
  }

  void pre_tokenizer(const json& p, const std::string& field) {
    const std::string type = type_of(p, field);
    PreTokenizerStep st;
    if (type == "Sequence") {
      const json& l = list(p, "pretokenizers", field);
      for (size_t i = 0; i < l.size(); ++i)
        pre_tokenizer(l[i], str_cat(field, ".pretokenizers[", i, "]"));
      return;
    } else if (type == "ByteLevel") {
      st.kind = PreTokenizerStep::kByteLevel;
      st.add_prefix_space = get_bool(p, "add_prefix_space", true, field);
      st.use_regex = get_bool(p, "use_regex", true, field);
    } else if (type == "Split") {
      st.kind = PreTokenizerStep::kSplit;
      st.pattern = pattern(p, field);
      const std::string b = get_string(p, "behavior", field);
      using B = tok::SplitBehavior;
      if (b == "Removed") {
        st.behavior = B::kRemoved;
      } else if (b == "Isolated") {
        st.behavior = B::kIsolated;
      } else if (b == "MergedWithPrevious") {
        st.behavior = B::kMergedWithPrevious;
      } else if (b == "MergedWithNext") {
        st.behavior = B::kMergedWithNext;
      } else if (b == "Contiguous") {
        st.behavior = B::kContiguous;
      } else {
        bad(field + ".behavior", "\"" + b + "\" is not a split behavior");
      }
      const json& inv = require(p, "invert", field);
      if (!inv.is_boolean()) bad(field + ".invert", "expected true or false");
      st.invert = inv.get<bool>();
      const json& pat = p["pattern"];
      if (st.behavior == B::kIsolated && !st.invert && pat.contains("Regex") &&
          pat["Regex"] == kGpt2Pattern)
        st.kind = PreTokenizerStep::kGpt2;  // the hand-written scanner: same pieces, faster
    } else if (type == "Metaspace") {
      st.kind = PreTokenizerStep::kMetaspace;
      tok::utf8::append(one_char(p, "replacement", field), st.replacement);
      st.prepend = prepend_scheme(p, field);
      st.split = get_bool(p, "split", true, field);
    } else {
      bad(field + ".type", "\"" + type +
                               "\" is not supported (ByteLevel, Split, Metaspace, Sequence of "
                               "them, or null)");
    }
    im_.pre_tokenizers.push_back(std::move(st));
  }

  void decoder(const json& d, const std::string& field) {
    const std::string type = type_of(d, field);
    DecoderStep st;
    if (type == "Sequence") {
      const json& l = list(d, "decoders", field);
      for (size_t i = 0; i < l.size(); ++i) decoder(l[i], str_cat(field, ".decoders[", i, "]"));
      return;
    } else if (type == "ByteLevel") {
      st.kind = DecoderStep::kByteLevel;
    } else if (type == "Metaspace") {
      st.kind = DecoderStep::kMetaspace;
      st.replacement = one_char(d, "replacement", field);
      st.drop_in_first = prepend_scheme(d, field) != PreTokenizerStep::kNever;
    } else if (type == "Replace") {
      st.kind = DecoderStep::kReplace;
      st.pattern = pattern(d, field);
      st.content = get_string(d, "content", field);
    } else if (type == "ByteFallback") {
      st.kind = DecoderStep::kByteFallback;
    } else if (type == "Fuse") {
      st.kind = DecoderStep::kFuse;
    } else if (type == "Strip") {
      st.kind = DecoderStep::kStrip;
      st.strip = one_char(d, "content", field);
      st.start = get_count(d, "start", field);
      st.stop = get_count(d, "stop", field);
    } else {
      bad(field + ".type", "\"" + type +
                               "\" is not supported (ByteLevel, Metaspace, Replace, "
                               "ByteFallback, Fuse, Strip, Sequence of them, or null)");
    }
    im_.decoders.push_back(std::move(st));
  }

  const std::string& origin_;
  Tokenizer::Impl& im_;
};

}  // namespace

void read_tokenizer_pipeline(const json& root, const std::string& origin, Tokenizer::Impl& im) {
  PipelineReader(origin, im).run(root);
}

}  // namespace rcc
