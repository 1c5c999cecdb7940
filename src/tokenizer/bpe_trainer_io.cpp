// BPE training from files and the tokenizer.json it writes.
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe_trainer.h"

namespace rcc::tok {

namespace {

constexpr size_t kBlockBytes = size_t(32) << 20;

// Reads `path` in blocks that end at a line end and hands each to `consume`, until `budget`
// bytes: then the input ends at the last line end within the budget (or at the budget itself
// when `cut_line` and not even one line fits). Returns the bytes consumed; sets *full when the
// budget stopped it.
uint64_t read_blocks(const std::string& path, uint64_t budget, bool cut_line, bool* full,
                     const std::function<void(std::string_view)>& consume) {
  std::error_code ec;
  RCC_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, not a file");
  // zlib reads plain files as they are and gzip files decompressed.
  gzFile f = gzopen(path.c_str(), "rb");
  RCC_CHECK(f, path, ": cannot open: ", std::strerror(errno));
  std::string buf;
  uint64_t used = 0;
  bool eof = false;
  *full = false;
  try {
    while (!eof) {
      const size_t old = buf.size();
      buf.resize(old + kBlockBytes);
      const int got = gzread(f, buf.data() + old, unsigned(kBlockBytes));
      if (got < 0) {
        int code = 0;
        const char* why = gzerror(f, &code);
        fail(path, ": read error (", why ? why : "unknown", ")");
      }
      const size_t n = size_t(got);
      buf.resize(old + n);
      if (n < kBlockBytes) eof = true;
      size_t take = buf.size();
      if (used + take > budget) {
        const size_t room = size_t(budget - used);
        const size_t nl = room == 0 ? std::string::npos : buf.rfind('\n', room - 1);
        take = nl != std::string::npos ? nl + 1 : (cut_line && used == 0 ? room : 0);
        *full = true;
      } else if (!eof) {
        const size_t nl = buf.rfind('\n');
        if (nl == std::string::npos) continue;  // a line longer than a block: read on
        take = nl + 1;
      }
      if (take > 0) consume(std::string_view(buf).substr(0, take));
      used += take;
      if (*full) break;
      buf.erase(0, take);
    }
  } catch (...) {
    gzclose(f);
    throw;
  }
  gzclose(f);
  return used;
}

}  // namespace

BpeTrainResult train_bpe_files(const std::vector<std::string>& files,
                               const BpeTrainerOptions& options,
                               const std::function<void(size_t, uint64_t)>& on_file,
                               const std::function<void(size_t)>& on_merge) {
  check_bpe_trainer_options(options);
  RCC_CHECK(!files.empty(), "no input files");
  const uint64_t budget =
      options.max_input_bytes > 0 ? uint64_t(options.max_input_bytes) : ~uint64_t{0};
  WordCounts counts;
  uint64_t bytes = 0;
  bool full = false;
  for (size_t i = 0; i < files.size() && !full; ++i) {
    bytes += read_blocks(files[i], budget - bytes, bytes == 0, &full,
                         [&](std::string_view block) { count_words_parallel(block, counts); });
    if (on_file) on_file(i, bytes);
  }
  BpeTrainResult res = train_bpe(counts, options, on_merge);
  res.input_bytes = bytes;
  return res;
}

std::string bpe_tokenizer_json(const BpeTrainResult& r) {
  using nlohmann::ordered_json;
  const ordered_json byte_level = {{"type", "ByteLevel"},
                                   {"add_prefix_space", false},
                                   {"trim_offsets", true},
                                   {"use_regex", true}};
  ordered_json added = ordered_json::array();
  for (size_t i = 0; i < r.num_special; ++i)
    added.push_back({{"id", i},
                     {"content", r.vocab[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < r.vocab.size(); ++i) vocab[r.vocab[i]] = i;
  ordered_json merges = ordered_json::array();
  for (const auto& m : r.merges)
    merges.push_back(r.vocab[size_t(m.left)] + " " + r.vocab[size_t(m.right)]);
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = std::move(added);
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = byte_level;
  j["post_processor"] = byte_level;
  j["decoder"] = byte_level;
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j.dump(2) + "\n";
}

}  // namespace rcc::tok
