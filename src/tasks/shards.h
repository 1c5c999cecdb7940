// Token shard files (`rcc data tokenize`): a tokenized text corpus, documents concatenated with the
// end-of-text id between them. The rcc container format (io/container.h): magic "RCCTOKS\0",
// version 1, JSON header {"format":"rcc-tokens","vocab_size","dtype":"u16"|"u32","tokens",
// "documents","codec_hash","source"}, payload the ids little-endian (u16 when vocab_size <= 65536),
// XXH64 checksum; written atomically.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/rng.h"

namespace rcc {

class MappedFile;
class TextCodec;

struct ShardInfo {
  int64_t vocab_size = 0, tokens = 0, documents = 0;
  int token_bytes = 2;
  std::string codec_hash;  // identifies the tokenizer (hex XXH64 of its file)
};

// Writes `ids` (< vocab_size) as one shard.
void write_shard(const std::string& path, const std::vector<int32_t>& ids, int64_t vocab_size,
                 int64_t documents, const std::string& codec_hash, const std::string& source);

class Shard {
 public:
  static Shard open(const std::string& path);  // validates header, size and checksum
  // Token ids held in memory (text tokenized when read); `label` names them in errors.
  static Shard in_memory(const std::string& label, std::vector<int32_t> ids, int64_t vocab_size,
                         int64_t documents);
  const ShardInfo& info() const { return info_; }
  const std::string& path() const { return path_; }
  // ids [begin, begin + n)
  void read(int64_t begin, int64_t n, int32_t* out) const;

 private:
  std::string path_;
  ShardInfo info_;
  std::shared_ptr<MappedFile> file_;
  const unsigned char* data_ = nullptr;
  std::shared_ptr<const std::vector<int32_t>> ids_;  // in-memory shards
};

// A set of shards read as one token stream; spans are drawn uniformly over all positions.
class TokenCorpus {
 public:
  // `patterns`: file paths, directories (every file inside) or `prefix*` globs (files whose name
  // starts with prefix). Files named *.rcctok are token shards; *.txt and *.txt.gz files (plain
  // or gzip text; any other name given explicitly) are text, tokenized with `codec` when opened:
  // one document per file, each followed by the codec's end-of-text id, all text files joined
  // into one in-memory shard in path order (as `rcc data tokenize --split file` would write it).
  // Text needs a codec; errors name the pattern and say how to make the data.
  static TokenCorpus open(const std::vector<std::string>& patterns,
                          const TextCodec* codec = nullptr);
  int64_t tokens() const { return total_; }
  int64_t largest_shard() const;
  const ShardInfo& info() const { return shards_.at(0).info(); }
  // A random span of n consecutive tokens (never crossing a shard boundary).
  std::vector<int32_t> span(int64_t n, Rng& rng) const;

 private:
  std::vector<Shard> shards_;
  std::vector<int64_t> start_;  // cumulative sizes
  int64_t total_ = 0;
};

// Hex XXH64 of a file's bytes (identifies a tokenizer.json / vocab.json).
std::string file_hash(const std::string& path);

}  // namespace rcc
