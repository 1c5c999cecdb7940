// Word counting for BPE training: text -> pre-tokenized words -> how often each occurs.
//
// The text goes through the pipeline of a GPT-NeoX tokenizer.json (invalid UTF-8 repaired with
// U+FFFD as Tokenizer::encode does, NFC, the GPT-2 split) one line at a time: Hugging Face's
// Tokenizer.train(files) reads its files line by line (each line keeping its '\n') and
// pre-tokenizes every line on its own, which matters for white space at line ends (" \n" followed
// by "x" is one pre-token " \n" per line, but " " + "\n" in one string).
// Words are kept as raw bytes (the byte-level alphabet maps bytes to characters one to one).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rcc::tok {

// word (raw bytes) -> count, in a flat open-addressing table whose keys live in one arena.
// Iteration order is insertion order, so training is deterministic.
class WordCounts {
 public:
  void add(std::string_view word, uint64_t n = 1);
  void merge_from(const WordCounts& other);
  size_t size() const { return entries_.size(); }
  uint64_t total() const { return total_; }  // sum of the counts

  std::string_view word(size_t i) const {
    return std::string_view(arena_).substr(entries_[i].off, entries_[i].len);
  }
  uint64_t count(size_t i) const { return entries_[i].count; }

 private:
  struct Entry {
    uint64_t hash;
    uint64_t off;
    uint32_t len;
    uint64_t count;
  };
  void grow();

  std::vector<Entry> entries_;   // in insertion order
  std::vector<uint32_t> slots_;  // entry index + 1; 0 = empty
  size_t mask_ = 0;
  std::string arena_;
  uint64_t total_ = 0;
};

// Counts the words of `text` (any bytes), line by line as described above, on the calling thread.
void count_words(std::string_view text, WordCounts& counts);

// The same, split over the thread pool at line boundaries (same counts as count_words; the
// insertion order may differ).
void count_words_parallel(std::string_view text, WordCounts& counts);

}  // namespace rcc::tok
