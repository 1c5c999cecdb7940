#include "tokenizer/bpe_word_counts.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "tokenizer/hash.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace rcc::tok {

void WordCounts::grow() {
  const size_t cap = slots_.empty() ? 1024 : slots_.size() * 2;
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  for (size_t e = 0; e < entries_.size(); ++e) {
    size_t i = entries_[e].hash & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = static_cast<uint32_t>(e + 1);
  }
}

void WordCounts::add(std::string_view word, uint64_t n) {
  if ((entries_.size() + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(word.data(), word.size());
  size_t i = h & mask_;
  total_ += n;
  for (;;) {
    const uint32_t s = slots_[i];
    if (s == 0) break;
    Entry& e = entries_[s - 1];
    if (e.hash == h && e.len == word.size() &&
        bytes_equal(arena_.data() + e.off, word.data(), e.len)) {
      e.count += n;
      return;
    }
    i = (i + 1) & mask_;
  }
  slots_[i] = static_cast<uint32_t>(entries_.size() + 1);
  entries_.push_back({h, arena_.size(), static_cast<uint32_t>(word.size()), n});
  arena_.append(word);
}

void WordCounts::merge_from(const WordCounts& other) {
  for (size_t i = 0; i < other.size(); ++i) add(other.word(i), other.count(i));
}

void count_words(std::string_view text, WordCounts& counts) {
  // Repair and NFC apply to the whole text at once: neither crosses a '\n' (an invalid subpart
  // never contains an ASCII byte, and NFC never composes across an ASCII starter).
  std::string repaired, normalized;
  if (!utf8::is_valid(text)) {
    utf8::append_lossy(text, repaired);
    text = repaired;
  }
  if (nfc_if_changed(text, normalized)) text = normalized;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    const std::string_view line = text.substr(start, end - start);
    split_gpt2(line, [&](size_t b, size_t e) { counts.add(line.substr(b, e - b)); });
    start = end;
  }
}

void count_words_parallel(std::string_view text, WordCounts& counts) {
  const int64_t threads = std::max(1, num_threads());
  if (threads == 1 || text.size() < (1 << 20)) {
    count_words(text, counts);
    return;
  }
  // Chunk boundaries just after a '\n', so that no line is cut.
  std::vector<size_t> cuts{0};
  for (int64_t t = 1; t < threads; ++t) {
    size_t c = text.size() * size_t(t) / size_t(threads);
    c = std::max(c, cuts.back());
    const size_t nl = text.find('\n', c);
    cuts.push_back(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  cuts.push_back(text.size());
  std::vector<WordCounts> parts(static_cast<size_t>(threads));
  parallel_for(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      count_words(text.substr(cuts[size_t(t)], cuts[size_t(t) + 1] - cuts[size_t(t)]),
                  parts[size_t(t)]);
  });
  for (const WordCounts& p : parts) counts.merge_from(p);
}

}  // namespace rcc::tok
