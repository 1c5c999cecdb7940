// Hostile binary files through the CLI (issue "hostile files"): a crafted memory, token shard or
// decoder cache whose header claims sizes that overflow (or exceed the file) must end the command
// with exit status 1 and one `error:` line naming the file — never a crash, never a success.
// The library-level refusals are in rcc_memory_test.cpp, train_tasks_test.cpp and
// safetensors_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>

#include "core/hash.h"
#include "ops/vec_math.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"
#include "rcc/memory_file.h"
#include "rcc/rcc_init.h"
#include "rcc/settings.h"
#include "tasks/babi.h"
#include "tasks/codec.h"
#include "tasks/shards.h"
#include "test_util.h"

namespace rcc {
namespace {

constexpr char kMemoryMagic[8] = {'R', 'C', 'C', 'M', 'E', 'M', 0, 0};
constexpr char kCacheMagic[8] = {'R', 'C', 'C', 'K', 'V', 0, 0, 0};
constexpr char kShardMagic[8] = {'R', 'C', 'C', 'T', 'O', 'K', 'S', 0};

// Exit status 1 and exactly one `error:` line on stderr, which names `file` and `field`.
void expect_one_error(const test::RunResult& r, const std::string& file, const std::string& field) {
  EXPECT_EQ(r.status, 1) << "stdout: " << r.out << "\nstderr: " << r.err;
  std::istringstream in(r.err);
  std::vector<std::string> errors;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("error:", 0) == 0) errors.push_back(line);
  ASSERT_EQ(errors.size(), 1u) << r.err;
  EXPECT_NE(errors[0].find(file), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find(field), std::string::npos) << errors[0];
}

// A small random RCC model (W 64, R 8, aligned, no tokenizer) saved in `dir`, and returned.
RCCModel small_model_at(const std::string& dir) {
  ModelConfig cfg;
  cfg.vocab_size = 97, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
  cfg.intermediate_size = 64, cfg.rotary_pct = 0.5;
  RCCSettings s;
  s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
  RCCModel m = init_random_rcc(cfg, s, DType::F32, 1);
  m.save(dir, DType::F32);
  return m;
}

std::vector<int32_t> ids(int n) {
  std::vector<int32_t> v(size_t(n), 0);
  for (int i = 0; i < n; ++i) v[size_t(i)] = (i * 7 + 3) % 97;
  return v;
}

TEST(HostileFiles, InspectRefusesAMemoryWhoseSlotBytesOverflow) {
  // `rcc inspect` accepted a memory claiming 2^40 slots of [4096, 2^20] f32 with an empty payload
  // (the byte count wrapped to 0) and printed its fields with status 0.
  test::TempDir d;
  const RCCModel m = small_model_at(d.file("model"));
  save_memory(d.file("x.rccm"), Compressor(m).compress(ids(150), WindowMode::Aligned));
  const std::string bad = d.file("bad.rccm");
  test::rewrite_container(
      d.file("x.rccm"), bad, kMemoryMagic,
      [](nlohmann::json& h) {
        h["slots"] = int64_t(1) << 40;
        h["levels"] = 4096;
        h["hidden"] = 1 << 20;
        h["dtype"] = "F32";
        h["token_count"] = int64_t(1) << 43;
        h["tail_ids"] = nlohmann::json::array();
        h["tail_slots"] = 0;
      },
      std::string());
  expect_one_error(test::run_rcc({"inspect", bad}), bad, "'slots'");
  expect_one_error(test::run_rcc({"inspect", bad, "--json"}), bad, "'slots'");
}

TEST(HostileFiles, InspectRefusesATailThatDisagreesWithItsIds) {
  // A memory whose tail slots disagree with its tail ids was accepted (and `--append` then dropped
  // the wrong slots silently).
  test::TempDir d;
  const RCCModel m = small_model_at(d.file("model"));
  save_memory(d.file("x.rccm"), Compressor(m).compress(ids(150), WindowMode::Aligned));
  const std::string bad = d.file("bad.rccm");
  test::rewrite_container(d.file("x.rccm"), bad, kMemoryMagic,
                          [](nlohmann::json& h) { h["tail_slots"] = 1; });
  expect_one_error(test::run_rcc({"inspect", bad}), bad, "'tail_slots'");
  test::write_file(d.file("more.json"), "[1, 2, 3]");
  expect_one_error(test::run_rcc({"compress", "--model", d.file("model"), "--input-ids",
                                  d.file("more.json"), "--out", bad, "--append"}),
                   bad, "'tail_slots'");
}

TEST(HostileFiles, InspectNamesTheFileOfAnUnknownWindowMode) {
  // "unknown window mode" named neither the memory file nor its field.
  test::TempDir d;
  const RCCModel m = small_model_at(d.file("model"));
  save_memory(d.file("x.rccm"), Compressor(m).compress(ids(100), WindowMode::Aligned));
  const std::string bad = d.file("bad.rccm");
  test::rewrite_container(d.file("x.rccm"), bad, kMemoryMagic,
                          [](nlohmann::json& h) { h["mode"] = "sideways"; });
  expect_one_error(test::run_rcc({"inspect", bad}), bad, "'mode'");
}

TEST(HostileFiles, RccJsonNamesTheFileAndFieldOfAnUnknownWindowMode) {
  // "unknown window mode" in rcc.json named the file but not the field.
  try {
    RCCSettings::parse(R"({"window": 64, "ratio": 8, "mode": "sideways"})", "m/rcc.json");
    ADD_FAILURE() << "accepted mode 'sideways'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m/rcc.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'mode'"), std::string::npos) << e.what();
  }
}

TEST(HostileFiles, DataInfoRefusesAShardWhoseTokenBytesOverflow) {
  // `rcc data info` reported 4.6e18 tokens with status 0 for a shard claiming 2^62 u32 tokens with
  // an empty payload (2^62 x 4 wrapped to 0); `rcc train` then read out of bounds.
  test::TempDir d;
  write_shard(d.file("s.rcctok"), {0, 70000, 3}, 70001, 1, "abc", "src");
  const std::string bad = d.file("bad.rcctok");
  test::rewrite_container(
      d.file("s.rcctok"), bad, kShardMagic,
      [](nlohmann::json& h) { h["tokens"] = int64_t(1) << 62; }, std::string());
  expect_one_error(test::run_rcc({"data", "info", bad}), bad, "'tokens'");
  expect_one_error(test::run_rcc({"data", "info", bad, "--json"}), bad, "'tokens'");
}

TEST(HostileFiles, AskSurvivesADecoderCacheWhosePositionsOverflow) {
  // `rcc ask --kv-cache` loaded a cache claiming 2^62 positions with an empty payload (the byte
  // count wrapped to 0), reserved a cache of a wrapped size and wrote out of bounds (SIGSEGV).
  // load_decoder_cache now refuses it, naming the file and the field, before the cache is touched.
  // `rcc ask` then treats it as any cache it cannot use (README, Asking): one `note:` line naming
  // the file and the field, the cache recomputed and rewritten, the same answer.
  test::TempDir d;
  const RCCModel m = small_model_at(d.file("model"));
  save_memory(d.file("x.rccm"), Compressor(m).compress(ids(150), WindowMode::Aligned));
  auto ask = [&](const std::string& kv) {
    return test::run_rcc({"ask", "--model", d.file("model"), "--memory", d.file("x.rccm"),
                          "--prompt-ids", "5,6,7", "--max-new-tokens", "2", "--json", "--kv-cache",
                          kv});
  };
  const test::RunResult made = ask(d.file("x.rcckv"));
  ASSERT_EQ(made.status, 0) << made.err;
  const std::string bad = d.file("bad.rcckv");
  test::rewrite_container(
      d.file("x.rcckv"), bad, kCacheMagic,
      [](nlohmann::json& h) { h["positions"] = int64_t(1) << 62; }, std::string());
  const test::RunResult r = ask(bad);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream in(r.err);
  std::vector<std::string> notes;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("note:", 0) == 0 || line.rfind("error:", 0) == 0) notes.push_back(line);
  ASSERT_EQ(notes.size(), 1u) << r.err;
  EXPECT_EQ(notes[0].rfind("note:", 0), 0u) << notes[0];
  EXPECT_NE(notes[0].find(bad), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("'positions'"), std::string::npos) << notes[0];
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], nlohmann::json::parse(made.out)["ids"]);
  // Rewritten: the next run loads it.
  const test::RunResult again = ask(bad);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_TRUE(nlohmann::json::parse(again.out)["timings"].contains("kv_cache_load_s")) << again.out;
}

TEST(HostileFiles, AnEmptyMemoryAndAnEmptyDecoderCacheTouchNoNullPointer) {
  // Found by fuzz/kv_cache_fuzz under UndefinedBehaviorSanitizer: a decoder cache of 0 positions
  // (a valid file: the cache of an empty memory) was restored with memcpy into the empty cache's
  // null buffers, and hashing it (as hashing an empty memory's slots) passed null to memcpy in
  // Xxh64::update. Both are undefined behaviour, reported by the sanitizer build of this test.
  EXPECT_EQ(xxh64(nullptr, 0), xxh64("", 0));
  Memory empty;
  empty.dtype = DType::F32, empty.levels = 3, empty.hidden = 32, empty.window = 64, empty.ratio = 8;
  empty.mode = WindowMode::Aligned;
  test::TempDir d;
  save_memory(d.file("e.rccm"), empty);
  const Memory loaded = load_memory(d.file("e.rccm"));
  EXPECT_EQ(loaded.slots(), 0);
  EXPECT_EQ(memory_identity(loaded), memory_identity(empty));

  ModelConfig cfg;
  cfg.vocab_size = 97, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
  cfg.intermediate_size = 64, cfg.rotary_pct = 0.5;
  RCCSettings s;
  s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
  const RCCModel m = init_random_rcc(cfg, s, DType::F32, 1);
  const uint64_t id = memory_identity(empty), fp = decoder_fingerprint(m);
  save_decoder_cache(d.file("e.rcckv"), DecoderMemory(m), id, fp);
  DecoderMemory dm(m);
  load_decoder_cache(d.file("e.rcckv"), dm, id, fp);
  EXPECT_EQ(dm.length(), 0);
}

TEST(HostileFiles, NaNSlotsOfAMemoryFileGiveNaNLogitsWithoutUndefinedBehaviour) {
  // Found by fuzz/memory_fuzz and fuzz/checkpoint_fuzz under UndefinedBehaviorSanitizer: slots (or
  // weights) read from a file may be NaN; the attention scores are then NaN and the softmax's exp
  // converted NaN to an integer, which is undefined. NaN now passes through as NaN.
  EXPECT_TRUE(std::isnan(ops::fast_exp(std::nanf(""))));
  EXPECT_GT(ops::fast_exp(std::numeric_limits<float>::infinity()), 1e38f);
  test::TempDir d;
  const RCCModel m = small_model_at(d.file("model"));
  Memory mem = Compressor(m).compress(ids(100), WindowMode::Aligned);
  std::memset(mem.data.data(), 0xff, mem.data.size());  // every slot value NaN
  save_memory(d.file("nan.rccm"), mem);
  const Memory loaded = load_memory(d.file("nan.rccm"));
  DecoderMemory dm(m);
  dm.extend(loaded, 0, loaded.slots());
  const std::vector<float> logits = dm.prompt_logits({5, 6});
  ASSERT_FALSE(logits.empty());
  EXPECT_TRUE(std::isnan(logits[0]));
}

TEST(HostileFiles, WrongTypesInAVocabularyAndAHugeBabiLineNumberAreErrorsNamingTheFile) {
  // Found by fuzz/task_data_fuzz: vocab.json with a non-string "format" or token escaped as
  // nlohmann's type_error, and a bAbI line number of 20 digits as std::out_of_range from
  // std::stoll; neither named the file (nor the line).
  test::TempDir d;
  auto refused = [](const std::function<void()>& f, const std::string& file,
                    const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "accepted " << file;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  const std::string vocab = d.file("vocab.json");
  test::write_file(vocab, R"({"format": 1, "tokens": []})");
  refused([&] { WordVocab::load(vocab); }, vocab, "not an rcc word vocabulary");
  test::write_file(vocab, R"({"format": "rcc-words", "tokens": ["<eos>", 7]})");
  refused([&] { WordVocab::load(vocab); }, vocab, "token 1 is not a string");
  const std::string babi = d.file("qa.txt");
  test::write_file(
      babi, "1 Mary went to the kitchen.\n12345678901234567890 Where is Mary?\tkitchen\t1\n");
  refused([&] { read_babi_file(babi); }, babi + ":2", "too large");
}

}  // namespace
}  // namespace rcc
