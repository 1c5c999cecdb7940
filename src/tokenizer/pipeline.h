// The configurable steps of a tokenizer.json pipeline beyond the byte-level defaults: normalizers
// (NFC, Prepend, Replace), pre-tokenizers (Split, Metaspace, ByteLevel, in a Sequence) and the
// split behaviours they share, all following Hugging Face tokenizers (normalizer.rs, pattern.rs,
// pre_tokenizers/{split,metaspace,byte_level}.rs).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace rcc::tok {

// A Split / Replace pattern: a literal string ({"String": s}) or an Oniguruma regex ({"Regex": r}).
class Pattern {
 public:
  static Pattern literal(std::string s);
  static Pattern regex(std::string_view onig, const std::string& field);

  // Appends the successive non-overlapping matches in s, as Hugging Face finds them.
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Hugging Face's NormalizedString::split for one piece: `matches` are the pattern's matches in a
// piece of `size` bytes (with `invert`, the stretches between them are the delimiters). Calls
// emit(begin, end) for each non-empty resulting piece, in order.
template <class Emit>
void split_by_matches(size_t size, const std::vector<std::pair<size_t, size_t>>& matches,
                      bool invert, SplitBehavior behavior, Emit&& emit) {
  // The parts cover the piece: (begin, end, is_match), in order.
  struct Pending {
    size_t begin = 0, end = 0;
    bool valid = false, is_match = false;
  } pending;
  bool previous_match = false;
  auto out = [&](size_t b, size_t e) {
    if (e > b) emit(b, e);
  };
  auto part = [&](size_t b, size_t e, bool is_match) {
    switch (behavior) {
      case SplitBehavior::kIsolated:
        out(b, e);
        break;
      case SplitBehavior::kRemoved:
        if (!is_match) out(b, e);
        break;
      case SplitBehavior::kContiguous:
        if (pending.valid && is_match == previous_match) {
          pending.end = e;
        } else {
          if (pending.valid) out(pending.begin, pending.end);
          pending = {b, e, true, is_match};
        }
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (pending.valid && is_match && !previous_match) {
          pending.end = e;
        } else {
          if (pending.valid) out(pending.begin, pending.end);
          pending = {b, e, true, is_match};
        }
        break;
      case SplitBehavior::kMergedWithNext:
        // A delimiter followed by a non-delimiter starts that part.
        if (is_match) {
          if (pending.valid) out(pending.begin, pending.end);
          pending = {b, e, true, true};
        } else if (pending.valid) {
          out(pending.begin, e);
          pending.valid = false;
        } else {
          out(b, e);
        }
        break;
    }
    previous_match = is_match;
  };
  if (size == 0) return;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) part(prev, b, invert);
    part(b, e, !invert);
    prev = e;
  }
  if (prev != size) part(prev, size, invert);
  if (pending.valid) out(pending.begin, pending.end);
}

// One normalizer step.
struct NormalizerStep {
  enum Kind { kNfc, kPrepend, kReplace } kind = kNfc;
  std::string text;  // kPrepend: what is prepended; kReplace: the replacement
  Pattern pattern;   // kReplace
};

// Applies the steps to s; returns false (out untouched) when nothing changed, else writes out.
bool normalize(const std::vector<NormalizerStep>& steps, std::string_view s, std::string& out);

// One pre-tokenizer step.
struct PreTokenizerStep {
  enum Kind { kSplit, kGpt2, kMetaspace, kByteLevel } kind = kSplit;
  // kSplit
  Pattern pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // kMetaspace
  std::string replacement;  // UTF-8 of the replacement character
  enum Prepend { kAlways, kFirst, kNever } prepend = kAlways;
  bool split = true;
  // kByteLevel (always the last step; the model then works on bytes)
  bool add_prefix_space = false;
  bool use_regex = true;
};

}  // namespace rcc::tok
