// rcc tokenize   (--tokenizer FILE | --model DIR) [--input FILE|-] [--json | --jsonl | --bench]
// rcc detokenize (--tokenizer FILE | --model DIR) --ids 1,2,3 [--skip-special]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "core/json_fields.h"
#include "inputs.h"
#include "output.h"
#include "tokenizer/tokenizer.h"

namespace rcc::cli {

namespace {

const char* kTokenizeHelp =
    "usage: rcc tokenize (--tokenizer FILE | --model DIR) [--input FILE|-] [options]\n"
    "Encodes text (stdin by default) with a Hugging Face tokenizer.json, like\n"
    "tokenizers' encode(text, add_special_tokens=False). Invalid UTF-8 becomes U+FFFD.\n"
    "  --tokenizer FILE   the tokenizer.json (or --model DIR: DIR/tokenizer.json)\n"
    "  --input FILE       read the text from FILE ('-' = stdin, the default)\n"
    "  (default output)   the ids on one line, comma separated\n"
    "  --json             one JSON object: {\"ids\": [...], \"count\": n}\n"
    "  --jsonl            every input line is a JSON string; every output line the JSON array\n"
    "                     of its ids\n"
    "  --bench            time the encoder instead: the input in chunks of at least\n"
    "                     --chunk-bytes (default 4096, cut after a newline), encoded --repeat\n"
    "                     times (default 3); prints a JSON report\n";

const char* kDetokenizeHelp =
    "usage: rcc detokenize (--tokenizer FILE | --model DIR) --ids 1,2,3 [--skip-special]\n"
    "Decodes ids to text (printed as is, without a trailing newline).\n"
    "  --skip-special     leave out special tokens (<|endoftext|>, ...)\n";

Tokenizer tokenizer_from_flags(const Args& a) {
  if (a.has("tokenizer") && a.has("model"))
    throw UsageError("give --tokenizer or --model, not both");
  if (auto path = a.get("tokenizer")) return Tokenizer::load(*path);
  if (auto dir = a.get("model")) {
    auto path = find_tokenizer(*dir);
    if (!path) fail("no tokenizer.json in ", *dir);
    return Tokenizer::load(*path);
  }
  throw UsageError("missing --tokenizer FILE (or --model DIR)");
}

void write_all(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
    fail("cannot write to stdout");
}

std::string ids_csv(const std::vector<int32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out;
}

// Each input line is a JSON string; each output line the JSON array of its ids.
std::string tokenize_jsonl(const Tokenizer& t, const std::string& text, const std::string& name) {
  std::string out;
  std::vector<int32_t> ids;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const nlohmann::json j = parse_json(line, name + ":" + std::to_string(line_no));
    if (!j.is_string()) fail(name, ":", line_no, ": expected a JSON string, got ", j.type_name());
    ids.clear();
    t.encode_append(j.get_ref<const std::string&>(), ids);
    out += json_text(nlohmann::json(ids));
    out += '\n';
  }
  return out;
}

// Splits text into chunks of at least `target` bytes, each ending after a newline (the last one
// may end anywhere). The Hugging Face side of the benchmark (bench/hf_tokenizer_bench.mjs) cuts
// the same way, so both encoders see identical pieces.
std::vector<std::string_view> bench_chunks(const std::string& text, size_t target) {
  std::vector<std::string_view> chunks;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = begin + target;
    if (end >= text.size()) {
      end = text.size();
    } else {
      size_t nl = text.find('\n', end);
      end = nl == std::string::npos ? text.size() : nl + 1;
    }
    chunks.emplace_back(text.data() + begin, end - begin);
    begin = end;
  }
  return chunks;
}

std::string bench(const Tokenizer& t, const std::string& text, int64_t repeat, size_t chunk_bytes) {
  const auto chunks = bench_chunks(text, chunk_bytes);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  double first = 0, best = 1e300;
  size_t tokens = 0;
  std::vector<double> passes;
  for (int64_t r = 0; r < repeat; ++r) {
    ids.clear();
    auto t0 = std::chrono::steady_clock::now();
    for (auto c : chunks) t.encode_append(c, ids);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    passes.push_back(s);
    if (r == 0) first = s;
    best = std::min(best, s);
    tokens = ids.size();
  }
  nlohmann::json j;
  j["encoder"] = "rcc";
  j["bytes"] = text.size();
  j["chunks"] = chunks.size();
  j["chunk_bytes"] = chunk_bytes;
  j["tokens"] = tokens;
  j["repeat"] = repeat;
  j["pass_seconds"] = passes;
  j["first_seconds"] = first;
  j["best_seconds"] = best;
  j["first_mb_per_s"] = text.size() / 1e6 / first;
  j["best_mb_per_s"] = text.size() / 1e6 / best;
  return json_text(j) + "\n";
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Args a(argc, argv, {"tokenizer", "model", "input", "repeat", "chunk-bytes"},
         {"json", "jsonl", "bench", "help"});
  if (a.has("help")) {
    std::fputs(kTokenizeHelp, stdout);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (int(a.has("json")) + int(a.has("jsonl")) + int(a.has("bench")) > 1)
    throw UsageError("give at most one of --json, --jsonl and --bench");
  const int64_t repeat = a.get_int("repeat", 3, 1, 1000);
  const int64_t chunk_bytes = a.get_int("chunk-bytes", 4096, 1, int64_t{1} << 40);
  const Tokenizer t = tokenizer_from_flags(a);
  const std::string name = a.get_or("input", "-");
  const std::string text = read_text(name);
  if (a.has("jsonl")) {
    write_all(tokenize_jsonl(t, text, name == "-" ? "stdin" : name));
  } else if (a.has("bench")) {
    write_all(bench(t, text, repeat, static_cast<size_t>(chunk_bytes)));
  } else {
    const std::vector<int32_t> ids = t.encode(text);
    if (a.has("json")) {
      nlohmann::json j;
      j["ids"] = ids;
      j["count"] = ids.size();
      write_all(json_text(j) + "\n");
    } else {
      write_all(ids_csv(ids) + "\n");
    }
  }
  return 0;
}

int cmd_detokenize(int argc, char** argv) {
  Args a(argc, argv, {"tokenizer", "model", "ids"}, {"skip-special", "help"});
  if (a.has("help")) {
    std::fputs(kDetokenizeHelp, stdout);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  const std::string list = a.require("ids");
  const std::vector<int32_t> ids =
      list.empty() ? std::vector<int32_t>{} : parse_id_list(list, "ids");
  const Tokenizer t = tokenizer_from_flags(a);
  for (int32_t id : ids)
    if (!t.id_to_token(id))
      fail("--ids: ", id, " is not a token id (vocabulary size ", t.vocab_size(), ")");
  write_all(t.decode(ids, a.has("skip-special")));
  return 0;
}

}  // namespace rcc::cli
