// Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/) with rcc's own writers: the
// tiny model of fuzz_model.h saved as a checkpoint (single file and sharded), its memories and
// decoder caches, token shards, config files, id lists and gzip text, plus a few broken variants
// of each. Container files (.rccm, .rcckv, .rcctok) are written without their trailing checksum,
// as the targets take them (fuzz_util.h, with_checksum). The training configs are copied from
// configs/. Run from the repository root: build-fuzz/fuzz/rcc_fuzz_seeds [OUT_DIR, default
// fuzz/seeds]. The tokenizer seeds (seeds/tokenizer, seeds/tokenizer_json) are not written here.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/text_file.h"
#include "fuzz_model.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"
#include "rcc/memory_file.h"
#include "tasks/babi.h"
#include "tasks/codec.h"
#include "tasks/shards.h"
#include "train/train_state.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace rcc;

namespace {

std::string out_root = "fuzz/seeds";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = fs::path(out_root) / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) fail("cannot write ", (dir / name).string());
  if (bytes.size() > (64u << 10))
    std::fprintf(stderr, "warning: %s/%s is %zu bytes\n", target.c_str(), name.c_str(),
                 bytes.size());
}

std::string gzip(const std::string& text) {
  z_stream z{};
  RCC_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK, "gzip");
  std::string out(deflateBound(&z, uLong(text.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = uInt(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  RCC_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "gzip");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A container file (io/container.h) without its trailing checksum, as the targets take it.
std::string body(const std::string& path) {
  const std::string f = read_file(path);
  RCC_CHECK(f.size() >= 32, path, ": not a container");
  return f.substr(0, f.size() - 8);
}

// A container body with its header replaced by edit(header) and, when given, its payload.
std::string edited(const std::string& b, const std::function<void(json&)>& edit,
                   const std::string* payload = nullptr) {
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | static_cast<unsigned char>(b[16 + size_t(i)]);
  json h = json::parse(b.substr(24, size_t(hlen)));
  edit(h);
  const std::string hs = h.dump();
  std::string out = b.substr(0, 16);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(uint64_t(hs.size()) >> (8 * i)));
  out += hs;
  out += payload ? *payload : b.substr(24 + size_t(hlen));
  return out;
}

std::vector<int32_t> ids(int n, int vocab = 16) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back((i * 7 + 3) % vocab);
  return v;
}

const std::string kCut = "\n@@shard@@\n";  // checkpoint_fuzz.cpp

void safetensors_seeds(const std::string& tmp, const RCCModel& m) {
  const auto named = m.decoder.weights().named();
  write_safetensors(tmp + "/f32.safetensors", named, {{"format", "pt"}});
  put("safetensors", "tiny_f32.safetensors", read_file(tmp + "/f32.safetensors"));
  std::vector<std::pair<std::string, Tensor>> bf16;
  for (const auto& [n, t] : named) bf16.emplace_back(n, t.to(DType::BF16));
  write_safetensors(tmp + "/bf16.safetensors", bf16);
  put("safetensors", "tiny_bf16.safetensors", read_file(tmp + "/bf16.safetensors"));
  // Every dtype the reader knows, with a zero-size and a scalar tensor.
  std::vector<std::pair<std::string, Tensor>> mixed;
  const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::I32,     DType::I64,
                       DType::F64, DType::I16, DType::I8,   DType::U8,      DType::U16,
                       DType::U32, DType::U64, DType::BOOL, DType::F8_E4M3, DType::F8_E5M2};
  for (DType d : all) {
    Tensor t = Tensor::zeros(d, {2, 3});
    for (size_t i = 0; i < t.nbytes(); ++i)
      static_cast<unsigned char*>(t.raw())[i] = uint8_t(i * 5);
    mixed.emplace_back(std::string("t_") + dtype_name(d), t);
  }
  mixed.emplace_back("empty", Tensor::zeros(DType::F32, {0, 4}));
  mixed.emplace_back("scalar", Tensor::zeros(DType::F32, {}));
  write_safetensors(tmp + "/mixed.safetensors", mixed, {{"note", "every dtype"}});
  const std::string mixed_bytes = read_file(tmp + "/mixed.safetensors");
  put("safetensors", "dtypes.safetensors", mixed_bytes);
  auto with_header = [](const std::string& h, const std::string& data) {
    std::string s;
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(uint64_t(h.size()) >> (8 * i)));
    return s + h + data;
  };
  put("safetensors", "empty_header.safetensors", with_header("{}", ""));
  put("safetensors", "truncated.safetensors", mixed_bytes.substr(0, mixed_bytes.size() / 2));
  put("safetensors", "overlap.safetensors",
      with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                  std::string(12, '\1')));
  put("safetensors", "header_too_long.safetensors", std::string("\xff\xff\xff\xff\0\0\0\0{}", 10));
  put("safetensors", "bad_shape.safetensors",
      with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                  ""));
}

void checkpoint_seeds(const std::string& tmp, const RCCModel& m) {
  const auto named = m.decoder.weights().named();
  auto dir_input = [&](const std::string& dir) {
    std::string s;
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    if (fs::exists(index)) s = read_file(index.string());
    std::vector<std::string> shards;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") shards.push_back(e.path().string());
    std::sort(shards.begin(), shards.end());
    for (const auto& p : shards) s += kCut + read_file(p);
    return s;
  };
  write_checkpoint(tmp + "/sharded", named, DType::F32, 1500);
  put("checkpoint", "sharded_f32", dir_input(tmp + "/sharded"));
  write_checkpoint(tmp + "/single", named, DType::BF16, size_t(1) << 30);
  put("checkpoint", "single_bf16", dir_input(tmp + "/single"));
  write_checkpoint(tmp + "/sharded16", named, DType::F16, 1000);
  put("checkpoint", "sharded_f16", dir_input(tmp + "/sharded16"));
  // embed_in split along its rows across two shards (joined on load), no index.
  std::vector<std::pair<std::string, Tensor>> a, b;
  for (const auto& [n, t] : named) {
    if (n == "gpt_neox.embed_in.weight") {
      a.emplace_back(n, t.rows(0, 5));
      b.emplace_back(n, t.rows(5, t.dim(0)));
    } else {
      (a.size() < named.size() / 2 ? a : b).emplace_back(n, t);
    }
  }
  write_safetensors(tmp + "/a.safetensors", a);
  write_safetensors(tmp + "/b.safetensors", b);
  put("checkpoint", "split_rows",
      kCut + read_file(tmp + "/a.safetensors") + kCut + read_file(tmp + "/b.safetensors"));
  // An index naming a missing shard and one naming the wrong shard.
  std::string s = dir_input(tmp + "/sharded");
  json index = json::parse(read_file(tmp + "/sharded/model.safetensors.index.json"));
  index["weight_map"]["gpt_neox.embed_in.weight"] = "model-00009-of-00009.safetensors";
  put("checkpoint", "index_missing_shard", index.dump(1) + s.substr(s.find(kCut)));
  index["weight_map"]["gpt_neox.embed_in.weight"] = "model-00002-of-00003.safetensors";
  put("checkpoint", "index_wrong_shard", index.dump(1) + s.substr(s.find(kCut)));
}

void config_seeds(const RCCModel& m) {
  put("config", "tiny.json", m.decoder.config().to_json());
  put("config", "rcc_tiny.json", read_file("models/rcc-tiny/config.json"));
  put("config", "newer_spelling.json", R"({"model_type": "gpt_neox", "vocab_size": 50304,
 "hidden_size": 512, "num_hidden_layers": 6, "num_attention_heads": 8, "intermediate_size": 2048,
 "partial_rotary_factor": 0.25, "rope_theta": 10000, "rope_scaling": null,
 "attention_bias": false, "tie_word_embeddings": true, "dtype": "float16",
 "eos_token_id": [0, 2], "hidden_act": "gelu"}
)");
  put("config", "rope_parameters.json", R"({"vocab_size": 100, "hidden_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
 "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5},
 "eos_token_id": null, "layer_norm_eps": 1e-06, "max_position_embeddings": 4096}
)");
  put("config", "bad_heads.json", R"({"vocab_size": 100, "hidden_size": 65,
 "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256})");
  put("config", "bad_scaling.json", R"({"vocab_size": 100, "hidden_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
 "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": 100})");
}

void settings_seeds(const RCCModel& m) {
  put("rcc_settings", "tiny.json", m.settings.to_json());
  put("rcc_settings", "defaults.json", RCCSettings{}.to_json());
  put("rcc_settings", "rcc_tiny.json", read_file("models/rcc-tiny/rcc.json"));
  put("rcc_settings", "short.json", R"({"window": 64, "ratio": 8, "mode": "compat"})");
  put("rcc_settings", "fp8.json", R"({"window": 64, "ratio": 8, "encoder_precision": "fp8"})");
  put("rcc_settings", "bad_ratio.json", R"({"window": 100, "ratio": 7, "memory_dtype": "f16"})");
  put("rcc_settings", "bad_chat.json", R"({"chat": {"preamble": 3}, "mode": "sideways"})");
}

void train_config_seeds() {
  for (const std::string dir : {"configs", "configs/rcc-tiny"})
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json")
        put("train_config", fs::path(dir).filename().string() + "_" + e.path().filename().string(),
            read_file(e.path().string()));
  // Every task kind once, with a model continued from a checkpoint.
  put("train_config", "all_tasks.json", R"({
 "model": {"init": "gpt_neox", "from": "models/x", "rcc": {"window": 16, "ratio": 4}},
 "vocab": {"kind": "tokenizer", "path": "x/tokenizer.json"},
 "tasks": [
  {"kind": "passkey", "min_tokens": 10, "max_tokens": 20, "digits": 3, "mode": "ir",
   "haystack": ["a.rcctok"], "weight": 2},
  {"kind": "facts", "facts": 3, "mode": "manual", "haystack": "b*", "haystack_min_tokens": 5,
   "haystack_max_tokens": 9, "min_depth": 0.1, "max_depth": 0.9},
  {"kind": "babi", "two_facts": true, "data": "d/qa1.txt", "mode": "ir", "loss_weight": 0.5},
  {"kind": "lm", "data": ["s/"], "tokens": 64},
  {"kind": "reconstruction", "data": "s/", "context_tokens": 32, "min_span": 2, "max_span": 4,
   "min_cue": 0, "max_cue": 2},
  {"kind": "continuation", "data": "s/", "min_context": 4, "max_context": 8, "target_tokens": 4},
  {"kind": "instruction", "data": "i.jsonl", "mode": "mixed", "max_context_tokens": 100}],
 "eval": [{"kind": "facts"}],
 "train": {"steps": 10, "batch_size": 2, "grad_accum": 2, "max_pass_tokens": 64, "lr": 0.001,
   "min_lr": 0.0001, "warmup": 2, "schedule": "cosine", "weight_decay": 0.1,
   "decay_vectors": false, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "clip": 1.0, "seed": 3,
   "threads": 1, "log_every": 1, "eval_every": 5, "eval_samples": 4, "eval_seed": 7,
   "checkpoint_every": 5}
})");
  put("train_config", "unknown_field.json",
      R"({"model": {"init": "rcc", "from": "m", "sed": 1}, "tasks": [{"kind": "facts"}]})");
}

void memory_seeds(const std::string& tmp, const RCCModel& m) {
  Compressor c(m);
  const Memory aligned = c.compress(ids(11), WindowMode::Aligned);
  save_memory(tmp + "/a.rccm", aligned);
  const std::string a = body(tmp + "/a.rccm");
  put("memory", "aligned_tail.rccm", a);
  save_memory(tmp + "/b.rccm", c.compress(ids(16), WindowMode::Aligned, DType::BF16));
  put("memory", "aligned_bf16.rccm", body(tmp + "/b.rccm"));
  save_memory(tmp + "/c.rccm", c.compress(ids(13), WindowMode::Compat));
  put("memory", "compat.rccm", body(tmp + "/c.rccm"));
  put("memory", "slots_overflow.rccm", edited(a, [](json& h) {
        h["slots"] = int64_t(1) << 40;
        h["levels"] = 4096;
        h["hidden"] = 1 << 20;
      }));
  put("memory", "tail_mismatch.rccm", edited(a, [](json& h) { h["tail_slots"] = 0; }));
  put("memory", "bad_mode.rccm", edited(a, [](json& h) { h["mode"] = "sideways"; }));
  const std::string nothing;
  put("memory", "no_payload.rccm",
      edited(
          a, [](json&) {}, &nothing));
}

void kv_cache_seeds(const std::string& tmp, const RCCModel& m) {
  const uint64_t fp = decoder_fingerprint(m);
  Compressor c(m);
  const Memory mem = c.compress(ids(11), WindowMode::Aligned);
  DecoderMemory dm(m);
  dm.extend(mem, 0, mem.slots());
  save_decoder_cache(tmp + "/a.rcckv", dm, fuzz::kTinyMemoryIdentity, fp);
  const std::string a = body(tmp + "/a.rcckv");
  put("kv_cache", "tiny.rcckv", a);
  DecoderMemory empty(m);
  save_decoder_cache(tmp + "/e.rcckv", empty, fuzz::kTinyMemoryIdentity, fp);
  put("kv_cache", "empty.rcckv", body(tmp + "/e.rcckv"));
  put("kv_cache", "positions_overflow.rcckv",
      edited(a, [](json& h) { h["positions"] = int64_t(1) << 62; }));
  put("kv_cache", "other_memory.rcckv",
      edited(a, [](json& h) { h["memory_identity"] = "0000000000000000"; }));
  put("kv_cache", "bad_layers.rcckv", edited(a, [](json& h) { h["layers"] = 2; }));
}

void token_shard_seeds(const std::string& tmp) {
  write_shard(tmp + "/a.rcctok", ids(40, 50), 50, 2, "0123456789abcdef", "seed");
  const std::string a = body(tmp + "/a.rcctok");
  put("token_shard", "u16.rcctok", a);
  write_shard(tmp + "/b.rcctok", {0, 70000, 3, 69999}, 70001, 1, "abc", "src");
  put("token_shard", "u32.rcctok", body(tmp + "/b.rcctok"));
  write_shard(tmp + "/c.rcctok", {}, 10, 0, "", "empty");
  put("token_shard", "empty.rcctok", body(tmp + "/c.rcctok"));
  put("token_shard", "tokens_overflow.rcctok",
      edited(a, [](json& h) { h["tokens"] = int64_t(1) << 62; }));
  put("token_shard", "small_vocab.rcctok", edited(a, [](json& h) { h["vocab_size"] = 5; }));
  put("token_shard", "bad_dtype.rcctok", edited(a, [](json& h) { h["dtype"] = "u8"; }));
}

void id_list_seeds() {
  put("id_list", "ids.json", "[1, 2, 3, 50276, 0]\n");
  put("id_list", "empty.json", "[]");
  put("id_list", "ids.json.gz", gzip("[7, 8, 9, 2147483647]"));
  put("id_list", "negative.json", "[1, -2]");
  put("id_list", "too_big.json", "[4294967296, 1.5, \"3\"]");
  put("id_list", "object.json", "{\"ids\": [1]}");
}

void text_file_seeds() {
  const std::string text = "The quick brown fox\njumps over the lazy dog.\n\xce\xbb x\n";
  put("text_file", "plain.txt", text);
  const std::string gz = gzip(text);
  put("text_file", "one_member.gz", gz);
  put("text_file", "two_members.gz", gz + gzip("second member\n"));
  put("text_file", "empty_member.gz", gzip(""));
  put("text_file", "truncated.gz", gz.substr(0, gz.size() - 5));
  put("text_file", "trailing_garbage.gz", gz + "garbage");
}

void task_data_seeds(const std::string& tmp) {
  std::istringstream babi(read_text_file("data/babi/qa2_two-supporting-facts_test.txt.gz"));
  std::string lines, line;
  for (int i = 0; i < 40 && std::getline(babi, line); ++i) lines += line + "\n";
  put("task_data", "babi.txt", lines);
  put("task_data", "babi.txt.gz", gzip(lines.substr(0, lines.size() / 2)));
  put("task_data", "babi_bad_number.txt",
      "1 Mary went to the kitchen.\n2 Where is Mary?\tkitchen\t1\n"
      "123456789012345678901234 John went to the garden.\n");
  std::istringstream pwc(read_file("data/pwc/PWC_eval_data.jsonl"));
  lines.clear();
  for (int i = 0; i < 3 && std::getline(pwc, line); ++i)
    if (line.size() < 8000) lines += line + "\n";
  put("task_data", "instruction.jsonl", lines);
  put("task_data", "instruction_small.jsonl",
      "{\"input\": \"the key is 123\", \"prompt\": \"what is the key?\", \"answer\": \"123\"}\n\n"
      "{\"input\": \"a\", \"prompt\": \"b\", \"answer\": \"c\"}\n");
  put("task_data", "instruction_missing.jsonl", "{\"input\": \"x\", \"prompt\": 3}\n");
  WordVocab(babi_words()).save(tmp + "/vocab.json");
  put("task_data", "vocab.json", read_file(tmp + "/vocab.json"));
  put("task_data", "vocab_bad.json", R"({"format": "rcc-words", "tokens": ["<eos>", 1]})");
}

void train_state_seeds(const std::string& tmp) {
  const ParamLayout layout = fuzz::tiny_train_layout();
  TrainState s;
  s.step = 12, s.adam_t = 12, s.rng = {1, 2, 3, 18446744073709551615ull}, s.tokens = 4096;
  s.seconds = 1.5;
  s.m = layout.new_buffer();
  s.v = layout.new_buffer();
  for (int64_t i = 0; i < s.m.numel(); ++i) s.m.f32()[i] = float(i) / 8, s.v.f32()[i] = float(i);
  save_train_state(tmp + "/state.rcct", s, layout);
  const std::string a = body(tmp + "/state.rcct");
  put("train_state", "state.rcct", a);
  put("train_state", "bad_rng.rcct", edited(a, [](json& h) {
        h["rng"] = {"1", "x", "99999999999999999999", "-1"};
      }));
  put("train_state", "floats_overflow.rcct",
      edited(a, [](json& h) { h["floats"] = uint64_t(1) << 62; }));
  put("train_state", "bad_types.rcct", edited(a, [](json& h) {
        h["step"] = "12";
        h["seconds"] = nullptr;
      }));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) out_root = argv[1];
  try {
    const std::string tmp = (fs::temp_directory_path() / "rcc-fuzz-seeds").string();
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const RCCModel m = fuzz::tiny_rcc_model();
    safetensors_seeds(tmp, m);
    checkpoint_seeds(tmp, m);
    config_seeds(m);
    settings_seeds(m);
    train_config_seeds();
    memory_seeds(tmp, m);
    kv_cache_seeds(tmp, m);
    token_shard_seeds(tmp);
    id_list_seeds();
    text_file_seeds();
    task_data_seeds(tmp);
    train_state_seeds(tmp);
    fs::remove_all(tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rcc_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "rcc_fuzz_seeds: wrote %s\n", out_root.c_str());
  return 0;
}
