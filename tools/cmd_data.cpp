// rcc data tokenize (--tokenizer FILE | --vocab FILE) --out PREFIX [--split file|paragraph|line]
//                   [--shard-tokens N] FILE...
// rcc data info SHARD.rcctok [--json]
// rcc data train-tokenizer --vocab-size N [--min-frequency F] [--max-input-bytes B]
//                          --out tokenizer.json FILE...
// Token shards for training (src/tasks/shards.h): text corpora tokenized once, documents joined by
// the end-of-text id (0).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "inputs.h"
#include "io/atomic_file.h"
#include "output.h"
#include "paths.h"
#include "tasks/codec.h"
#include "tasks/shards.h"
#include "tokenizer/bpe_trainer.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc data tokenize (--tokenizer tokenizer.json | --vocab vocab.json) --out PREFIX\n"
    "                         [--split file|paragraph|line] [--shard-tokens N] FILE...\n"
    "       rcc data info SHARD.rcctok [--json]\n"
    "       rcc data train-tokenizer --vocab-size N [--min-frequency F] [--max-input-bytes B]\n"
    "                                --out tokenizer.json [--json] FILE...\n"
    "tokenize: splits each text FILE into documents (a whole file, blank-line separated\n"
    "paragraphs, or lines), tokenizes them, joins them with the end-of-text id 0 and writes\n"
    "PREFIX-00000.rcctok, PREFIX-00001.rcctok, ... (at most --shard-tokens ids each, default\n"
    "100000000; ids stored as uint16 when the vocabulary has at most 65536 tokens, else uint32).\n"
    "train-tokenizer: trains a byte-level BPE tokenizer (GPT-NeoX layout: NFC, GPT-2 split,\n"
    "<|endoftext|> = 0, <|padding|> = 1, then 256 byte symbols, then merges) on the FILEs, read\n"
    "line by line, as Hugging Face's BpeTrainer does; --min-frequency default 2;\n"
    "--max-input-bytes stops reading after B bytes in all.\n"
    "Input files may be gzip-compressed (.gz). --quiet: no progress on stderr; --progress:\n"
    "progress even when stderr is not a terminal.\n";

std::vector<std::string> split_documents(const std::string& text, const std::string& how) {
  std::vector<std::string> docs;
  if (how == "file") {
    docs.push_back(text);
  } else {
    // Lines; a paragraph ends at a line holding only white space.
    std::string para;
    size_t start = 0;
    auto blank = [](const std::string& x) {
      return x.find_first_not_of(" \t\r") == std::string::npos;
    };
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      if (how == "line") {
        if (!blank(line)) docs.push_back(line);
      } else if (blank(line)) {
        if (!blank(para)) docs.push_back(para);
        para.clear();
      } else {
        para += line + "\n";
      }
      start = end + 1;
    }
    if (!blank(para)) docs.push_back(para);
  }
  return docs;
}

// The shards PREFIX-NNNNN.rcctok overwrite neither an input file nor the codec, and their
// directory can be created and written; checked before any file is read.
void check_shard_outputs(const std::string& prefix, const std::string& codec_path,
                         const std::string& codec_flag, const std::vector<std::string>& files) {
  std::vector<InputPath> inputs = {{codec_flag, codec_path}};
  for (const std::string& f : files) inputs.push_back({"input", f});
  OutputFileRules rules;
  rules.create_parents = true;
  check_output_file(prefix + "-00000.rcctok", "--out", inputs, rules);
  // Any later shard: an input named like one, in the shards' directory, would be overwritten.
  const std::filesystem::path dir = std::filesystem::path(prefix).parent_path();
  const std::string stem = std::filesystem::path(prefix).filename().string() + "-";
  for (const InputPath& in : inputs) {
    const std::string name = std::filesystem::path(in.path).filename().string();
    if (name.size() == stem.size() + 12 && name.rfind(stem, 0) == 0 &&
        name.find_first_not_of("0123456789", stem.size()) == stem.size() + 5 &&
        name.compare(stem.size() + 5, std::string::npos, ".rcctok") == 0)
      check_output_file((dir / name).string(), "--out", inputs, rules);
  }
}

int tokenize(const Args& a) {
  if (a.has("tokenizer") == a.has("vocab")) throw UsageError("give one of --tokenizer and --vocab");
  const std::string codec_path = a.has("tokenizer") ? a.require("tokenizer") : a.require("vocab");
  std::unique_ptr<TextCodec> codec;
  if (a.has("tokenizer"))
    codec = std::make_unique<BpeCodec>(Tokenizer::load(codec_path));
  else
    codec = std::make_unique<WordVocab>(WordVocab::load(codec_path));
  const std::string prefix = a.require("out"), how = a.get_or("split", "file");
  if (how != "file" && how != "paragraph" && how != "line")
    throw UsageError("--split must be file, paragraph or line");
  const int64_t shard_tokens = a.get_int("shard-tokens", 100000000, 1, INT64_MAX);
  std::vector<std::string> inputs(a.positional().begin() + 1, a.positional().end());
  if (inputs.empty()) throw UsageError("no input files");
  check_shard_outputs(prefix, codec_path, a.has("tokenizer") ? "--tokenizer" : "--vocab", inputs);
  if (auto dir = std::filesystem::path(prefix).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  const std::string hash = file_hash(codec_path);
  std::vector<int32_t> buf;
  int64_t docs_in_buf = 0, shard = 0, total = 0, total_docs = 0;
  nlohmann::json written = nlohmann::json::array();
  auto flush = [&](bool force) {
    while (int64_t(buf.size()) >= shard_tokens || (force && !buf.empty())) {
      const int64_t n = std::min<int64_t>(shard_tokens, int64_t(buf.size()));
      char name[32];
      std::snprintf(name, sizeof name, "-%05lld.rcctok", (long long)shard++);
      std::vector<int32_t> part(buf.begin(), buf.begin() + n);
      write_shard(prefix + name, part, codec->vocab_size(), docs_in_buf, hash,
                  std::filesystem::path(codec_path).filename().string());
      written.push_back(prefix + name);
      buf.erase(buf.begin(), buf.begin() + n);
      docs_in_buf = 0;
    }
  };
  Progress prog("tokenized", int64_t(inputs.size()), "files");
  for (size_t f = 0; f < inputs.size(); ++f) {
    const std::vector<std::string> docs = split_documents(read_text(inputs[f]), how);
    std::vector<std::vector<int32_t>> ids(docs.size());
    parallel_for(int64_t(docs.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ids[size_t(i)] = codec->encode(docs[size_t(i)]);
    });
    for (auto& d : ids) {
      buf.insert(buf.end(), d.begin(), d.end());
      buf.push_back(codec->eos());
      total += int64_t(d.size()) + 1;
      ++docs_in_buf;
      ++total_docs;
    }
    flush(false);
    prog.update(int64_t(f) + 1);
  }
  flush(true);
  prog.finish(int64_t(inputs.size()));
  nlohmann::json j = {{"shards", written},
                      {"tokens", total},
                      {"documents", total_docs},
                      {"vocab_size", codec->vocab_size()}};
  print_json(j);
  return 0;
}

int train_tokenizer(const Args& a) {
  tok::BpeTrainerOptions o;
  if (!a.has("vocab-size")) throw UsageError("--vocab-size is required");
  o.vocab_size = a.get_int("vocab-size", 0, 258, tok::kMaxBpeVocabSize);
  o.min_frequency = a.get_int("min-frequency", 2, 0, INT64_MAX);
  o.max_input_bytes = a.get_int("max-input-bytes", 0, 0, INT64_MAX);
  const std::string out = a.require("out");
  std::vector<std::string> inputs(a.positional().begin() + 1, a.positional().end());
  if (inputs.empty()) throw UsageError("no input files");
  for (const std::string& f : inputs) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(f, ec)) fail(f, ": no such file");
  }
  // The tokenizer is written over none of its training files; a symbolic link is written
  // through. Checked before the (long) training.
  std::vector<InputPath> corpus;
  for (const std::string& f : inputs) corpus.push_back({"input", f});
  OutputFileRules rules;
  rules.create_parents = true;
  const std::string target = check_output_file(out, "--out", corpus, rules);
  Progress read_prog("read", int64_t(inputs.size()), "files");
  uint64_t bytes_read = 0;
  std::unique_ptr<Progress> merge_prog;
  const int64_t max_merges = o.vocab_size - 258;
  tok::BpeTrainResult r = tok::train_bpe_files(
      inputs, o,
      [&](size_t i, uint64_t bytes) {
        read_prog.update(int64_t(i) + 1);
        bytes_read = bytes;
      },
      [&](size_t n) {
        if (!merge_prog) {
          read_prog.finish(int64_t(inputs.size()));
          merge_prog = std::make_unique<Progress>("merged", max_merges, "merges");
        }
        merge_prog->update(int64_t(n));
      });
  read_prog.finish(int64_t(inputs.size()));
  if (merge_prog) merge_prog->finish(int64_t(r.merges.size()));
  if (auto dir = std::filesystem::path(target).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  write_string_atomic(target, tok::bpe_tokenizer_json(r));
  const bool reached = int64_t(r.vocab.size()) == o.vocab_size;
  if (a.has("json")) {
    nlohmann::json j = {{"out", out},
                        {"vocab_size", r.vocab.size()},
                        {"requested_vocab_size", o.vocab_size},
                        {"merges", r.merges.size()},
                        {"min_frequency", o.min_frequency},
                        {"last_merge_count", r.merges.empty() ? 0 : r.merges.back().count},
                        {"input_bytes", bytes_read},
                        {"words", r.words},
                        {"distinct_words", r.distinct_words},
                        {"files", inputs.size()}};
    print_json(j);
  } else {
    std::printf("%s: %zu tokens (%zu merges)%s from %llu bytes, %llu words (%llu distinct)\n",
                out.c_str(), r.vocab.size(), r.merges.size(),
                reached ? "" : ", fewer than requested: no pair left at min_frequency",
                (unsigned long long)bytes_read, (unsigned long long)r.words,
                (unsigned long long)r.distinct_words);
  }
  return 0;
}

int info(const Args& a) {
  if (a.positional().size() != 2) throw UsageError("give one shard file");
  const Shard s = Shard::open(a.positional()[1]);
  const ShardInfo& i = s.info();
  if (a.has("json")) {
    nlohmann::json j = {{"file", s.path()},
                        {"tokens", i.tokens},
                        {"documents", i.documents},
                        {"vocab_size", i.vocab_size},
                        {"dtype", i.token_bytes == 2 ? "u16" : "u32"},
                        {"codec_hash", i.codec_hash}};
    print_json(j);
  } else {
    std::printf("%s: %lld tokens, %lld documents, vocabulary %lld (%s), codec %s\n",
                s.path().c_str(), (long long)i.tokens, (long long)i.documents,
                (long long)i.vocab_size, i.token_bytes == 2 ? "u16" : "u32", i.codec_hash.c_str());
  }
  return 0;
}

}  // namespace

int cmd_data(int argc, char** argv) {
  Args a(argc, argv,
         {"tokenizer", "vocab", "out", "split", "shard-tokens", "threads", "vocab-size",
          "min-frequency", "max-input-bytes"},
         {"json", "quiet", "help"});
  if (a.has("help") || a.positional().empty()) {
    std::fputs(kHelp, a.has("help") ? stdout : stderr);
    return a.has("help") ? 0 : 2;
  }
  init_runtime(a);
  Progress::set_quiet_default(a.has("quiet"));
  const std::string sub = a.positional()[0];
  if (sub == "tokenize") return tokenize(a);
  if (sub == "info") return info(a);
  if (sub == "train-tokenizer") return train_tokenizer(a);
  throw UsageError("unknown data command '" + sub + "' (tokenize, info, train-tokenizer)");
}

}  // namespace rcc::cli
