#include "tasks/shards.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"
#include "core/text_file.h"
#include "core/thread_pool.h"
#include "io/container.h"
#include "io/mapped_file.h"
#include "tasks/codec.h"

namespace rcc {

namespace fs = std::filesystem;

namespace {
const char kMagic[8] = {'R', 'C', 'C', 'T', 'O', 'K', 'S', '\0'};
}

std::string file_hash(const std::string& path) {
  auto f = MappedFile::open(path);
  return hex64(xxh64(f->data(), f->size()));
}

void write_shard(const std::string& path, const std::vector<int32_t>& ids, int64_t vocab_size,
                 int64_t documents, const std::string& codec_hash, const std::string& source) {
  RCC_CHECK(vocab_size > 0, "shard: vocab_size must be positive");
  const int bytes = vocab_size <= 65536 ? 2 : 4;
  for (int32_t id : ids)
    RCC_CHECK(id >= 0 && id < vocab_size, "shard ", path, ": id ", id, " outside [0, ", vocab_size,
              ")");
  nlohmann::json h = {{"format", "rcc-tokens"},
                      {"vocab_size", vocab_size},
                      {"dtype", bytes == 2 ? "u16" : "u32"},
                      {"tokens", int64_t(ids.size())},
                      {"documents", documents},
                      {"codec_hash", codec_hash},
                      {"source", source}};
  write_container(path, kMagic, 1, h, [&](const auto& out) {
    std::vector<unsigned char> buf;
    buf.reserve(size_t(1) << 16);
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint32_t v = uint32_t(ids[i]);
      for (int b = 0; b < bytes; ++b) buf.push_back(static_cast<unsigned char>(v >> (8 * b)));
      if (buf.size() >= (size_t(1) << 16) || i + 1 == ids.size()) {
        out(buf.data(), buf.size());
        buf.clear();
      }
    }
  });
}

Shard Shard::open(const std::string& path) {
  ContainerView c = read_container(path, kMagic, 1, "token shard");
  Shard s;
  s.path_ = path;
  const JsonFields f(c.header, path + " (token shard header)");
  RCC_CHECK(f.get("format") == "rcc-tokens", path, ": not a token shard");
  for (const char* k : {"vocab_size", "tokens", "documents", "codec_hash", "dtype"})
    RCC_CHECK(f.has(k), f.where(), ": missing field '", k, "'");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  f.get_int("vocab_size", &s.info_.vocab_size, 1, int64_t(1) << 31);  // ids are int32
  f.get_int("tokens", &s.info_.tokens, 0, kMax);
  f.get_int("documents", &s.info_.documents, 0, kMax);
  f.get_string("codec_hash", &s.info_.codec_hash);
  std::string dt;
  f.get_string("dtype", &dt);
  RCC_CHECK(dt == "u16" || dt == "u32", path, ": dtype must be u16 or u32");
  s.info_.token_bytes = dt == "u16" ? 2 : 4;
  // A checked product, so that a token count that wraps modulo 2^64 cannot match the payload.
  const std::string tokens_field = str_cat(path, ": token shard field 'tokens' = ", s.info_.tokens);
  const int64_t want = checked_mul(s.info_.tokens, s.info_.token_bytes, tokens_field);
  RCC_CHECK(c.payload_bytes == uint64_t(want), tokens_field, " of ", dt, " needs ", want,
            " bytes but the payload holds ", c.payload_bytes);
  s.file_ = c.file;
  s.data_ = c.payload;
  return s;
}

Shard Shard::in_memory(const std::string& label, std::vector<int32_t> ids, int64_t vocab_size,
                       int64_t documents) {
  Shard s;
  s.path_ = label;
  s.info_.vocab_size = vocab_size;
  s.info_.tokens = int64_t(ids.size());
  s.info_.documents = documents;
  s.info_.token_bytes = 4;
  s.ids_ = std::make_shared<const std::vector<int32_t>>(std::move(ids));
  return s;
}

void Shard::read(int64_t begin, int64_t n, int32_t* out) const {
  RCC_CHECK(begin >= 0 && n >= 0 && begin + n <= info_.tokens, path_, ": read past the end");
  if (ids_) {
    std::copy_n(ids_->begin() + begin, n, out);
    return;
  }
  const int b = info_.token_bytes;
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char* p = data_ + size_t(begin + i) * size_t(b);
    uint32_t v = 0;
    for (int k = b - 1; k >= 0; --k) v = v << 8 | p[k];
    RCC_CHECK(int64_t(v) < info_.vocab_size, path_, ": id ", v, " outside the vocabulary");
    out[i] = int32_t(v);
  }
}

namespace {

bool is_shard_name(const fs::path& p) {
  return p.extension() == ".rcctok";
}
bool is_text_name(const fs::path& p) {
  const std::string n = p.filename().string();
  auto ends = [&](const std::string& suffix) {
    return n.size() >= suffix.size() &&
           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".txt") || ends(".txt.gz");
}

const char* kMakeData =
    " (token shards *.rcctok come from `rcc data tokenize`; text files *.txt or *.txt.gz are"
    " tokenized when read)";

// Text files tokenized with `codec`: one document per file, each followed by the end-of-text id.
Shard tokenize_text_files(const std::vector<std::string>& files, const std::string& label,
                          const TextCodec& codec) {
  std::vector<std::vector<int32_t>> ids(files.size());
  parallel_for(int64_t(files.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ids[size_t(i)] = codec.encode(read_text_file(files[size_t(i)]));
  });
  std::vector<int32_t> all;
  for (auto& d : ids) {
    all.insert(all.end(), d.begin(), d.end());
    all.push_back(codec.eos());
  }
  return Shard::in_memory(label, std::move(all), codec.vocab_size(), int64_t(files.size()));
}

}  // namespace

TokenCorpus TokenCorpus::open(const std::vector<std::string>& patterns, const TextCodec* codec) {
  std::vector<std::string> shard_files, text_files;
  auto add = [&](const fs::path& f, bool explicit_name) {
    if (is_shard_name(f))
      shard_files.push_back(f.string());
    else if (explicit_name || is_text_name(f))
      text_files.push_back(f.string());
  };
  for (const std::string& p : patterns) {
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) add(e.path(), false);
    } else if (!p.empty() && p.back() == '*') {
      const fs::path prefix(p.substr(0, p.size() - 1));
      const fs::path dir = prefix.has_parent_path() ? prefix.parent_path() : fs::path(".");
      const std::string stem = prefix.filename().string();
      RCC_CHECK(fs::is_directory(dir), p, ": no such directory ", dir.string(), kMakeData);
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().filename().string().rfind(stem, 0) == 0)
          add(e.path(), false);
    } else {
      RCC_CHECK(fs::exists(p), p, ": no such file", kMakeData);
      add(p, true);
    }
  }
  std::sort(shard_files.begin(), shard_files.end());
  std::sort(text_files.begin(), text_files.end());
  const std::string what = patterns.empty() ? "(nothing)" : patterns[0];
  RCC_CHECK(!shard_files.empty() || !text_files.empty(), "no token shards or text files found in ",
            what, kMakeData);
  TokenCorpus c;
  std::vector<Shard> shards;
  for (const std::string& f : shard_files) shards.push_back(Shard::open(f));
  if (!text_files.empty()) {
    RCC_CHECK(codec, text_files[0],
              ": a text file, and no tokenizer to read it with (give token"
              " shards *.rcctok from `rcc data tokenize`)");
    shards.push_back(tokenize_text_files(
        text_files, what + " (" + std::to_string(text_files.size()) + " text files)", *codec));
  }
  for (Shard& s : shards) {
    if (!c.shards_.empty()) {
      const ShardInfo& a = c.shards_[0].info();
      const ShardInfo& b = s.info();
      // Text read here has no tokenizer hash: its vocabulary size must still agree.
      RCC_CHECK(a.vocab_size == b.vocab_size &&
                    (a.codec_hash.empty() || b.codec_hash.empty() || a.codec_hash == b.codec_hash),
                s.path(), ": tokenized with another vocabulary than ", c.shards_[0].path());
    }
    c.start_.push_back(c.total_);
    c.total_ = checked_add(c.total_, s.info().tokens, s.path() + ": the corpus's token count");
    c.shards_.push_back(std::move(s));
  }
  return c;
}

int64_t TokenCorpus::largest_shard() const {
  int64_t m = 0;
  for (const Shard& s : shards_) m = std::max(m, s.info().tokens);
  return m;
}

std::vector<int32_t> TokenCorpus::span(int64_t n, Rng& rng) const {
  // Shards long enough for the span, chosen in proportion to their usable positions.
  std::vector<int64_t> usable(shards_.size());
  int64_t total = 0;
  for (size_t i = 0; i < shards_.size(); ++i)
    total += usable[i] = std::max<int64_t>(0, shards_[i].info().tokens - n + 1);
  RCC_CHECK(total > 0, "token corpus: no shard holds ", n, " consecutive tokens");
  int64_t r = int64_t(rng.below(uint64_t(total)));
  size_t i = 0;
  while (r >= usable[i]) r -= usable[i++];
  std::vector<int32_t> out(static_cast<size_t>(n));
  shards_[i].read(r, n, out.data());
  return out;
}

}  // namespace rcc
