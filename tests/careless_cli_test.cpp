// Careless command lines must neither destroy data nor answer nonsense: an output that is one of
// the inputs, an existing model directory, an unwritable or directory output, an empty context, a
// full stdout, non-UTF-8 text in JSON, prompts and ids the model cannot take, a stale decoder
// cache. Each refusal is one `error:` line naming the file or flag, with the inputs left as they
// were. Runs build/rcc on a small random RCC model with the real GPT-NeoX tokenizer (its answers
// are noise; the tests check what is refused, written and kept).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io/file_lock.h"
#include "rcc/rcc_init.h"
#include "test_util.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CarelessCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ModelConfig cfg;
    cfg.vocab_size = 50304, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
    cfg.intermediate_size = 64;
    RCCSettings s;
    s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
    init_random_rcc(cfg, s, DType::BF16, 1).save(model(), DType::BF16);
    test::write_file(model() + "/tokenizer.json",
                     test::read_text(test::data("tokenizers/gpt-neox-20b/tokenizer.json.gz")));
    test::write_file(file("ctx.txt"),
                     "The cat sat on the sofa. The dog sat on the stool. The bird sat on the "
                     "branch. The fish swam in the bowl.\n");
    test::write_file(file("other.txt"), "The sun is warm. The sea is blue. The sky is high.\n");
    ASSERT_EQ(test::run_rcc(compress_args("ctx.txt", "ctx.rccm")).status, 0);
    ASSERT_EQ(test::run_rcc(compress_args("other.txt", "other.rccm")).status, 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model() { return dir_->file("model"); }
  static std::string file(const std::string& n) { return dir_->file(n); }
  static std::vector<std::string> compress_args(const std::string& in, const std::string& out) {
    return {"compress", "--model", model(), "--input", file(in), "--out", file(out), "--quiet"};
  }
  static std::vector<std::string> ask_args(const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"ask", "--model", model(), "--max-new-tokens", "3", "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Runs rcc and expects a refusal: `status`, nothing on stdout, and exactly one `error:` line,
  // which names every one of `needles`.
  static test::RunResult expect_refused(const std::vector<std::string>& args, int status,
                                        const std::vector<std::string>& needles) {
    test::RunResult r = test::run_rcc(args);
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    int error_lines = 0;
    std::string error_line;
    std::istringstream in(r.err);
    for (std::string l; std::getline(in, l);)
      if (l.rfind("error:", 0) == 0) ++error_lines, error_line = l;
    EXPECT_EQ(error_lines, 1) << r.err;
    for (const std::string& n : needles)
      EXPECT_NE(error_line.find(n), std::string::npos) << "'" << n << "' in " << r.err;
    return r;
  }
  static test::TempDir* dir_;
};
test::TempDir* CarelessCli::dir_ = nullptr;

// Whether the file at `path` still holds `bytes` (compared here rather than printed: a clobbered
// file is binary).
bool same_bytes(const std::string& path, const std::string& bytes) {
  return test::read_file(path) == bytes;
}

// Runs `build/rcc <args> > stdout_to` through the shell (run_rcc sends stdout to a file of its
// own); returns the exit status and fills `err` with stderr.
int run_rcc_stdout_to(const std::vector<std::string>& args, const std::string& stdout_to,
                      std::string& err) {
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const char* env = std::getenv("RCC_BINARY");
  test::TempDir tmp;
  std::string cmd = quote(env && *env ? env : RCC_BINARY);
  for (const auto& a : args) cmd.append(" ").append(quote(a));
  cmd.append(" < /dev/null > ").append(stdout_to).append(" 2> ").append(quote(tmp.file("err")));
  const int rc = std::system(cmd.c_str());
  err = test::read_file(tmp.file("err"));
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

// Writing the memory over its own input text (by the same path, another spelling of it, a hard
// link or a symbolic link) would destroy the text the user meant to compress; the same for
// --input-ids and for a file of the model directory.
TEST_F(CarelessCli, CompressOutputThatIsAnInputIsRefused) {
  const std::string text = test::read_file(file("ctx.txt"));
  fs::create_directories(file("sub"));
  fs::create_hard_link(file("ctx.txt"), file("hard.txt"));
  fs::create_symlink(file("ctx.txt"), file("sym.txt"));
  for (const std::string& out :
       {file("ctx.txt"), file("sub/../ctx.txt"), file("hard.txt"), file("sym.txt")}) {
    expect_refused({"compress", "--model", model(), "--input", file("ctx.txt"), "--out", out}, 1,
                   {"--out", out, "--input"});
    EXPECT_TRUE(same_bytes(file("ctx.txt"), text)) << out;
  }
  test::write_file(file("ids.json"), "[1,2,3,4,5,6,7,8,9,10]");
  const std::string ids = test::read_file(file("ids.json"));
  expect_refused(
      {"compress", "--model", model(), "--input-ids", file("ids.json"), "--out", file("ids.json")},
      1, {"--out", "ids.json", "--input-ids"});
  EXPECT_TRUE(same_bytes(file("ids.json"), ids));
  const std::string cfg = test::read_file(model() + "/config.json");
  expect_refused({"compress", "--model", model(), "--input", file("ctx.txt"), "--out",
                  model() + "/config.json"},
                 1, {"--out", "config.json", "--model"});
  EXPECT_TRUE(same_bytes(model() + "/config.json", cfg));
  fs::remove(file("hard.txt"));
  fs::remove(file("sym.txt"));
}

// Exporting a memory's slots onto the memory file itself would replace the memory by a
// safetensors file.
TEST_F(CarelessCli, InspectExportOntoItsMemoryIsRefused) {
  const std::string mem = test::read_file(file("ctx.rccm"));
  expect_refused({"inspect", file("ctx.rccm"), "--export-slots", file("ctx.rccm")}, 1,
                 {"--export-slots", "ctx.rccm"});
  EXPECT_TRUE(same_bytes(file("ctx.rccm"), mem));
}

// `rcc init --out` onto an existing model directory would leave a mix of old and new files (the
// model no longer loads); an existing non-empty directory is refused, an empty one is filled.
TEST_F(CarelessCli, InitOntoExistingModelIsRefused) {
  test::write_file(file("init.json"),
                   R"({"vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 1,)"
                   R"( "num_attention_heads": 4, "intermediate_size": 64})");
  const std::string weights = test::read_file(model() + "/model.safetensors");
  const std::string cfg = test::read_file(model() + "/config.json");
  expect_refused({"init", "--config", file("init.json"), "--out", model()}, 1,
                 {"--out", model(), "not empty"});
  EXPECT_TRUE(same_bytes(model() + "/model.safetensors", weights));
  EXPECT_TRUE(same_bytes(model() + "/config.json", cfg));
  // A file where the directory should go is refused too.
  expect_refused({"init", "--config", file("init.json"), "--out", file("ctx.txt")}, 1,
                 {"--out", "ctx.txt"});
  fs::create_directories(file("empty-dir"));
  test::RunResult r =
      test::run_rcc({"init", "--config", file("init.json"), "--out", file("empty-dir")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(file("empty-dir/rcc.json")));
}

// A symbolic link given as --out is written through: its target gets the new memory and the link
// stays a link (it used to be replaced by a regular file, leaving the target stale).
TEST_F(CarelessCli, SymlinkedOutputIsWrittenThrough) {
  fs::create_directories(file("store"));
  test::write_file(file("store/target.rccm"), "old");
  fs::create_symlink(file("store/target.rccm"), file("link.rccm"));
  test::RunResult r = test::run_rcc(compress_args("ctx.txt", "link.rccm"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(file("link.rccm")));
  EXPECT_EQ(test::read_file(file("store/target.rccm")), test::read_file(file("ctx.rccm")));
}

// An output that cannot be written (its directory is missing, is a file, or the output is a
// directory) is refused before the model is even loaded, not after the whole compression.
// --progress prints the phases, so their absence shows that no work was done.
TEST_F(CarelessCli, UnwritableOutputFailsBeforeAnyWork) {
  for (const std::string& out :
       {file("no-such-dir/m.rccm"), file("ctx.txt/m.rccm"), file("sub"), dir_->path()}) {
    fs::create_directories(file("sub"));
    test::RunResult r = expect_refused(
        {"compress", "--model", model(), "--input", file("ctx.txt"), "--out", out, "--progress"}, 1,
        {"--out", out});
    EXPECT_EQ(r.err.find("loaded model"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("compressing"), std::string::npos) << r.err;
  }
}

// An empty file (or a directory) as the context used to be read as empty text: instruction
// reconstruction then compressed the question alone and answered it (status 0, an invented
// answer). The refusal names the file.
TEST_F(CarelessCli, EmptyOrDirectoryContextIsRefused) {
  test::write_file(file("empty.txt"), "");
  test::write_file(file("empty.json"), "[]");
  fs::create_directories(file("ctxdir"));
  expect_refused(ask_args({"--context", file("empty.txt"), "--question", "Who sits?"}), 1,
                 {"empty.txt", "is empty"});
  expect_refused(ask_args({"--context", file("ctxdir"), "--question", "Who sits?"}), 1,
                 {"ctxdir", "is a directory"});
  expect_refused(ask_args({"--context-ids", file("empty.json"), "--question", "Who sits?"}), 1,
                 {"empty.json", "is empty"});
  expect_refused(
      {"compress", "--model", model(), "--input", file("empty.txt"), "--out", file("e.rccm")}, 1,
      {"empty.txt", "is empty"});
  expect_refused(
      {"compress", "--model", model(), "--input-ids", file("empty.json"), "--out", file("e.rccm")},
      1, {"empty.json", "is empty"});
  EXPECT_FALSE(fs::exists(file("e.rccm")));
}

// An answer that could not be written is a failure: a script reading the exit status must not
// take a lost answer for a given one.
TEST_F(CarelessCli, WriteErrorOnStdoutFails) {
  for (const std::vector<std::string>& args :
       {ask_args({"--memory", file("ctx.rccm"), "--question", "Who sits?"}),
        ask_args({"--memory", file("ctx.rccm"), "--question", "Who sits?", "--json"}),
        std::vector<std::string>{"inspect", file("ctx.rccm")},
        std::vector<std::string>{"version", "--json"}}) {
    std::string err;
    EXPECT_EQ(run_rcc_stdout_to(args, "/dev/full", err), 1) << args[0] << ": " << err;
    EXPECT_NE(err.find("error: cannot write to stdout"), std::string::npos) << err;
  }
}

// JSON output must stay JSON when a question or a path is not UTF-8 (it used to fail with the
// JSON library's exception): invalid bytes become U+FFFD.
TEST_F(CarelessCli, JsonOutputWithInvalidUtf8) {
  test::RunResult r = test::run_rcc(
      ask_args({"--memory", file("ctx.rccm"), "--question", "Who \xff sits?", "--json"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["question"], "Who \xEF\xBF\xBD sits?");
  const std::string odd = file("odd-\xfe.rccm");
  r = test::run_rcc({"compress", "--model", model(), "--input", file("ctx.txt"), "--out", odd,
                     "--json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json c = json::parse(r.out);
  EXPECT_EQ(c["out"], file("odd-\xEF\xBF\xBD.rccm"));
  r = test::run_rcc({"inspect", odd, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["file"], c["out"]);
  EXPECT_EQ(json::parse(r.out)["slots"], c["slots"]);
}

// A decoder prompt longer than max_position_embeddings runs the decoder at positions it never
// learned; --stop-ids outside the vocabulary can never match (the answer never stops where the
// user asked); an eos_token_id outside the vocabulary likewise. All refused before any work.
TEST_F(CarelessCli, PromptsAndIdsTheModelCannotTakeAreRefused) {
  std::string ids = "1";
  for (int i = 2; i <= 2049; ++i) ids += "," + std::to_string(i % 1000);
  expect_refused(ask_args({"--memory", file("ctx.rccm"), "--prompt-ids", ids}), 1,
                 {"prompt", "2049", "max_position_embeddings", "2048"});
  expect_refused(
      ask_args({"--memory", file("ctx.rccm"), "--question", "Who?", "--stop-ids", "0,50304"}), 1,
      {"--stop-ids", "50304"});
  // The same for plain generation (vocabulary 1000, max_position_embeddings 4096).
  const std::string plain = test::fixture("gptneox/parallel-f32");
  std::string long_ids = "1";
  for (int i = 2; i <= 4097; ++i) long_ids += "," + std::to_string(i % 1000);
  expect_refused({"generate", "--model", plain, "--prompt-ids", long_ids, "--max-new-tokens", "1"},
                 1, {"prompt", "4097", "max_position_embeddings", "4096"});
  expect_refused({"generate", "--model", plain, "--prompt-ids", "1,2", "--stop-ids", "1000"}, 1,
                 {"--stop-ids", "1000"});
  // A model whose config.json names an eos id outside its vocabulary.
  fs::create_directories(file("bad-eos"));
  for (const char* f : {"model.safetensors", "rcc.json", "tokenizer.json"})
    fs::create_symlink(model() + "/" + f, file("bad-eos") + "/" + f);
  json cfg = json::parse(test::read_file(model() + "/config.json"));
  cfg["eos_token_id"] = 50304;
  test::write_file(file("bad-eos/config.json"), cfg.dump());
  expect_refused(
      {"ask", "--model", file("bad-eos"), "--memory", file("ctx.rccm"), "--question", "Who?"}, 1,
      {"config.json", "eos_token_id", "50304"});
}

// The README: a --kv-cache file that does not match this memory and model is recomputed and
// rewritten (it used to be an error). A note on stderr says so.
TEST_F(CarelessCli, StaleDecoderCacheIsRecomputed) {
  const std::string kv = file("stale.rcckv");
  test::RunResult r = test::run_rcc(
      ask_args({"--memory", file("ctx.rccm"), "--question", "Who sits?", "--kv-cache", kv}));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ask_other = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"--memory", file("other.rccm"), "--question", "Who sits?",
                                  "--json"};
    a.insert(a.end(), extra.begin(), extra.end());
    test::RunResult x = test::run_rcc(ask_args(a));
    EXPECT_EQ(x.status, 0) << x.err;
    return x;
  };
  const test::RunResult fresh = ask_other({});
  const test::RunResult recomputed = ask_other({"--kv-cache", kv});
  EXPECT_NE(recomputed.err.find(kv), std::string::npos) << recomputed.err;
  EXPECT_NE(recomputed.err.find("recomput"), std::string::npos) << recomputed.err;
  ASSERT_FALSE(recomputed.out.empty());
  EXPECT_EQ(json::parse(recomputed.out)["ids"], json::parse(fresh.out)["ids"]);
  // Rewritten for this memory: the next run loads it.
  const test::RunResult loaded = ask_other({"--kv-cache", kv});
  ASSERT_FALSE(loaded.out.empty());
  EXPECT_TRUE(json::parse(loaded.out)["timings"].contains("kv_cache_load_s")) << loaded.out;
  EXPECT_EQ(json::parse(loaded.out)["ids"], json::parse(fresh.out)["ids"]);
  EXPECT_TRUE(loaded.err.empty()) << loaded.err;
}

// A --kv-cache that cannot be written is refused before the model is loaded (it used to fail
// only after the prefill), and one that is an input of the command (the memory itself) or not a
// decoder cache at all is never overwritten.
TEST_F(CarelessCli, DecoderCachePathCheckedFirst) {
  test::RunResult r =
      expect_refused(ask_args({"--context", file("ctx.txt"), "--question", "Who sits?",
                               "--kv-cache", file("no-such-dir/c.rcckv"), "--progress"}),
                     1, {"--kv-cache", "no-such-dir"});
  EXPECT_EQ(r.err.find("loaded model"), std::string::npos) << r.err;
  const std::string mem = test::read_file(file("ctx.rccm"));
  expect_refused(ask_args({"--memory", file("ctx.rccm"), "--question", "Who?", "--kv-cache",
                           file("ctx.rccm")}),
                 1, {"--kv-cache", "ctx.rccm", "--memory"});
  EXPECT_TRUE(same_bytes(file("ctx.rccm"), mem));
  const std::string text = test::read_file(file("other.txt"));
  expect_refused(ask_args({"--memory", file("ctx.rccm"), "--question", "Who?", "--kv-cache",
                           file("other.txt")}),
                 1, {"--kv-cache", "other.txt", "not a decoder cache"});
  EXPECT_TRUE(same_bytes(file("other.txt"), text));
}

// The other writing commands share the same check: a trained tokenizer written over its own
// corpus, shards written over their input, an export below a file.
TEST_F(CarelessCli, OtherWritersRefuseTheirInputs) {
  test::write_file(file("corpus.txt"), "a b c d\na b c\n");
  const std::string corpus = test::read_file(file("corpus.txt"));
  expect_refused({"data", "train-tokenizer", "--vocab-size", "300", "--out", file("corpus.txt"),
                  file("corpus.txt"), "--quiet"},
                 1, {"--out", "corpus.txt"});
  EXPECT_TRUE(same_bytes(file("corpus.txt"), corpus));
  test::write_file(file("sh-00000.rcctok"), "a b c\n");
  expect_refused({"data", "tokenize", "--tokenizer", model() + "/tokenizer.json", "--out",
                  file("sh"), file("sh-00000.rcctok"), "--quiet"},
                 1, {"--out", "sh-00000.rcctok"});
  EXPECT_TRUE(same_bytes(file("sh-00000.rcctok"), "a b c\n"));
  const std::string text = test::read_file(file("ctx.txt"));
  expect_refused({"export", "--model", model(), "--out", file("ctx.txt/x")}, 1,
                 {"--out", "ctx.txt/x", "not a directory"});
  EXPECT_TRUE(same_bytes(file("ctx.txt"), text));
}

// An rcc.json window far beyond what the encoder's positions cover (2^20 tokens, ratio 1) used to
// allocate gigabytes before failing; it is refused at load, naming rcc.json and the limit.
TEST_F(CarelessCli, WindowBeyondTheEncoderPositionsIsRefusedAtOnce) {
  fs::create_directories(file("huge-window"));
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json"})
    fs::create_symlink(model() + "/" + f, file("huge-window") + "/" + f);
  json s = json::parse(test::read_file(model() + "/rcc.json"));
  s["window"] = 1 << 20;
  s["ratio"] = 1;
  test::write_file(file("huge-window/rcc.json"), s.dump());
  expect_refused({"compress", "--model", file("huge-window"), "--input", file("ctx.txt"), "--out",
                  file("huge.rccm"), "--quiet"},
                 1, {"rcc.json", "window 1048576", "max_position_embeddings"});
  EXPECT_FALSE(fs::exists(file("huge.rccm")));
}

// The inode of `path` as /proc/locks writes it (after "maj:min:").
std::string inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return std::to_string(st.st_ino);
}

// How many processes wait for a flock on the file with inode `ino` (lines "-> FLOCK ... :ino ").
int flock_waiters(const std::string& ino) {
  std::istringstream in(test::read_file("/proc/locks"));
  int n = 0;
  for (std::string l; std::getline(in, l);)
    if (l.find("-> FLOCK") != std::string::npos && l.find(":" + ino + " ") != std::string::npos)
      ++n;
  return n;
}

// Two `compress --append` on one memory at once: both used to report success while one append was
// lost. They now take turns (a lock on the memory), and the memory holds both appends.
TEST_F(CarelessCli, ConcurrentAppendsBothLand) {
  const std::string mem = file("shared.rccm");
  fs::copy_file(file("ctx.rccm"), mem);
  const int64_t before = json::parse(test::run_rcc({"inspect", mem, "--json"}).out)["token_count"];
  // Hold the memory's lock here so that both appends are started and waiting before either runs.
  FileLock held = FileLock::exclusive(mem, FileLock::Wait::Refuse, "test");
  test::RunResult r1, r2;
  auto append = [&](const std::string& in, test::RunResult* r) {
    *r = test::run_rcc({"compress", "--model", model(), "--input", file(in), "--out", mem,
                        "--append", "--json", "--quiet"});
  };
  std::thread t1(append, "ctx.txt", &r1), t2(append, "other.txt", &r2);
  const std::string ino = inode_of(mem);
  for (int i = 0; i < 1200 && flock_waiters(ino) < 2; ++i) usleep(100 * 1000);
  EXPECT_EQ(flock_waiters(ino), 2) << "both appends wait for the memory's lock";
  held = FileLock();
  t1.join();
  t2.join();
  ASSERT_EQ(r1.status, 0) << r1.err;
  ASSERT_EQ(r2.status, 0) << r2.err;
  const int64_t added = json::parse(r1.out)["tokens_added"].get<int64_t>() +
                        json::parse(r2.out)["tokens_added"].get<int64_t>();
  EXPECT_EQ(json::parse(test::run_rcc({"inspect", mem, "--json"}).out)["token_count"],
            before + added)
      << "an append was lost";
}

}  // namespace
}  // namespace rcc
