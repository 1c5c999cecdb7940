// Byte-level BPE training, merge for merge what Hugging Face tokenizers' BpeTrainer computes for
//   models.BPE() + normalizers.NFC() + pre_tokenizers.ByteLevel(add_prefix_space=False)
//   + trainers.BpeTrainer(vocab_size=V, min_frequency=F, special_tokens=[...],
//                         initial_alphabet=ByteLevel.alphabet())
// trained with Tokenizer.train(files). See docs/tokenizer.md ("Training") for the algorithm and
// its tie-breaking.
//
// Ids: the special tokens first (0, 1, ... in the order given), then the 256 byte-level
// characters sorted by code point ('!' = 2 ... U+0143), then one token per merge in the order the
// merges were made, until the vocabulary holds vocab_size tokens (or no pair occurs at least
// min_frequency times).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tokenizer/bpe_word_counts.h"

namespace rcc::tok {

struct BpeTrainerOptions {
  int64_t vocab_size = 8192;
  int64_t min_frequency = 2;    // a pair occurring fewer times is never merged
  int64_t max_input_bytes = 0;  // train_bpe_files: stop reading after this many bytes (0: all)
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|padding|>"};
};

struct BpeTrainResult {
  // Token strings by id, byte-level spelled ("Ġthe"); the special tokens as given.
  std::vector<std::string> vocab;
  size_t num_special = 0;
  // Merges in rank order (ids into vocab). A pair merged twice (possible in Hugging Face's
  // algorithm, see the .cpp) is listed once, at its later rank, as Hugging Face serializes it.
  struct Merge {
    int32_t left, right, merged;
    uint64_t count;  // the pair's frequency when it was merged
  };
  std::vector<Merge> merges;
  uint64_t words = 0, distinct_words = 0, input_bytes = 0;
};

// Trains on counted words. `on_merge(n)` (optional) is called after each merge.
BpeTrainResult train_bpe(const WordCounts& counts, const BpeTrainerOptions& options,
                         const std::function<void(size_t)>& on_merge = {});

// Reads the files (each one line by line, see bpe_word_counts.h; at most
// options.max_input_bytes in all when set, cut at a line end), counts words on the thread pool
// and trains. `on_file(i, bytes_so_far)` (optional) is called after each file.
BpeTrainResult train_bpe_files(const std::vector<std::string>& files,
                               const BpeTrainerOptions& options,
                               const std::function<void(size_t, uint64_t)>& on_file = {},
                               const std::function<void(size_t)>& on_merge = {});

// The tokenizer.json text (GPT-NeoX layout: NFC, ByteLevel pre-tokenizer/decoder/post-processor,
// the special tokens as added tokens with special=true, normalized=false).
std::string bpe_tokenizer_json(const BpeTrainResult& result);

// Checks the options; throws rcc::Error naming the bad one.
void check_bpe_trainer_options(const BpeTrainerOptions& options);

// Largest vocab_size accepted.
constexpr int64_t kMaxBpeVocabSize = int64_t{1} << 24;

}  // namespace rcc::tok
