// What a new user meets first, through the CLI: `rcc --version` (version, commit, CUDA, CPU
// kernels) and the build's commit script, `--progress` (progress lines on a stderr that is not a
// terminal), `rcc info` on an RCC model (encoder and decoder, settings, memory costs per 1M tokens,
// checked against the formulas from the model's own config) and the timings of `rcc ask --json`.
// The models are small random ones made here; the tokenizer is the bundled model's tokenizer.json.
#include <gtest/gtest.h>
#include <regex.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/build_info.h"
#include "core/progress.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "rcc/rcc_init.h"
#include "rcc/settings.h"
#include "test_util.h"

namespace rcc {
namespace {

// POSIX extended regular expression search (REG_NEWLINE: ^ and $ at line ends); the first
// group's text in *group when given. (The C++ <regex> of libstdc++ 12 trips
// -Wmaybe-uninitialized in sanitizer builds.)
bool re_search(const std::string& text, const char* pattern, std::string* group = nullptr) {
  regex_t re;
  if (regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE) != 0) {
    ADD_FAILURE() << "bad pattern " << pattern;
    return false;
  }
  regmatch_t m[2];
  const bool found = regexec(&re, text.c_str(), 2, m, 0) == 0;
  if (found && group && m[1].rm_so >= 0)
    *group = text.substr(size_t(m[1].rm_so), size_t(m[1].rm_eo - m[1].rm_so));
  regfree(&re);
  return found;
}

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run_rcc;
using test::RunResult;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  return lines;
}

// ---- rcc --version ----

TEST(FirstHourVersion, TextNamesVersionCommitCudaAndBlas) {
  for (const char* flag : {"--version", "version"}) {
    const RunResult r = run_rcc({flag});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_TRUE(re_search(r.out, "^rcc [0-9]+\\.[0-9]+\\.[0-9]+$")) << r.out;
    EXPECT_TRUE(re_search(r.out, "^commit +([0-9a-f]{7,40}(-dirty)?|unknown)$")) << r.out;
#ifdef RCC_HAS_CUDA
    EXPECT_TRUE(contains(r.out, "cuda      compiled in")) << r.out;
#else
    EXPECT_TRUE(contains(r.out, "cuda      off")) << r.out;
#endif
    EXPECT_TRUE(contains(r.out, "cpu       " + kernels::describe_kernels() + " kernels\n"))
        << r.out;
  }
}

TEST(FirstHourVersion, JsonAgreesWithTheLibraryAndTheText) {
  const RunResult r = run_rcc({"--version", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  const BuildInfo b = build_info();  // the same library the binary links
  EXPECT_EQ(j["version"], b.version);
  EXPECT_EQ(j["commit"], b.commit);
#ifdef RCC_HAS_CUDA
  EXPECT_EQ(j["cuda"]["compiled"], true);
#else
  EXPECT_EQ(j["cuda"]["compiled"], false);
#endif
  EXPECT_EQ(j["cpu_kernels"], kernels::describe_kernels());
  const RunResult text = run_rcc({"version"});
  EXPECT_TRUE(contains(text.out, "rcc " + j["version"].get<std::string>() + "\n"));
  EXPECT_TRUE(contains(text.out, j["commit"].get<std::string>()));
  EXPECT_EQ(run_rcc({"version", "extra"}).status, 2);
  EXPECT_EQ(run_rcc({"version", "--bogus"}).status, 2);
}

// cmake/build_commit.cmake, as the build runs it: the commit of a git checkout, "unknown" for a
// source tree without .git — also when that tree lies inside some other repository.
class BuildCommitScript : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("cmake --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no cmake";
    if (std::system("git --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no git";
  }
  // Runs the script on `source` and returns the RCC_GIT_COMMIT it wrote.
  std::string commit_of(const std::string& source) {
    const std::string out = tmp_.file("commit.h");
    const std::string cmd = "cmake -DSOURCE_DIR='" + source + "' -DOUT='" + out +
                            "' -DGIT=git -P '" + script_ + "' > /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string commit;
    if (!re_search(test::read_file(out), "#define RCC_GIT_COMMIT \"([^\"]*)\"", &commit)) return "";
    return commit;
  }
  int sh(const std::string& cmd) {
    return std::system(("cd '" + tmp_.path() + "' && " + cmd).c_str());
  }

  test::TempDir tmp_;
  const std::string script_ = test::fixture("../../cmake/build_commit.cmake");
};

TEST_F(BuildCommitScript, CommitOfACheckoutUnknownOutsideOne) {
  fs::create_directories(tmp_.file("tarball/src"));
  EXPECT_EQ(commit_of(tmp_.file("tarball")), "unknown");
  ASSERT_EQ(sh("mkdir repo && cd repo && git init -q . && echo a > f && git add f && "
               "git -c user.name=t -c user.email=t@t commit -q -m one"),
            0);
  ASSERT_EQ(sh("git -C repo rev-parse --short=12 HEAD > head"), 0);
  std::string head = test::read_file(tmp_.file("head"));
  head.erase(head.find_last_not_of("\n") + 1);
  EXPECT_EQ(commit_of(tmp_.file("repo")), head);
  const std::string before = test::read_file(tmp_.file("commit.h"));
  const auto stamp = fs::last_write_time(tmp_.file("commit.h"));
  EXPECT_EQ(commit_of(tmp_.file("repo")), head);  // unchanged: not rewritten
  EXPECT_EQ(fs::last_write_time(tmp_.file("commit.h")), stamp);
  ASSERT_EQ(sh("echo b > repo/f"), 0);
  EXPECT_EQ(commit_of(tmp_.file("repo")), head + "-dirty");
  // A source tree without .git inside a repository is not that repository's checkout.
  fs::create_directories(tmp_.file("repo/unpacked"));
  EXPECT_EQ(commit_of(tmp_.file("repo/unpacked")), "unknown");
  EXPECT_NE(test::read_file(tmp_.file("commit.h")), before);
}

// ---- Progress, forced on a stderr that is not a terminal ----

// Captures what the process writes on stderr (fd 2) while `fn` runs.
template <class F>
std::string capture_stderr(F fn) {
  test::TempDir tmp;
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  FILE* f = std::fopen(tmp.file("err").c_str(), "w");
  dup2(fileno(f), STDERR_FILENO);
  fn();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::fclose(f);
  return test::read_file(tmp.file("err"));
}

struct ProgressDefaults {  // restores the process-wide defaults
  ~ProgressDefaults() {
    Progress::set_forced(false);
    Progress::set_quiet_default(false);
    Progress::set_line_interval(2.0);
  }
};

TEST(FirstHourProgress, ForcedPlainLinesWithRateAndEta) {
  ProgressDefaults restore;
  Progress::set_line_interval(0);
  Progress::set_forced(true);
  const std::string err = capture_stderr([] {
    Progress p("work", 10, "items");
    p.update(3);
    p.update(5);
    p.update(10);  // the last line comes from finish()
    p.finish(10);
    p.finish(10);  // once
  });
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  const std::vector<std::string> want = {"work: 3/10 items (30%), ", "work: 5/10 items (50%), ",
                                         "work: 10 items in "};
  std::istringstream in(err);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), want.size()) << err;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(lines[i].rfind(want[i], 0), 0u) << lines[i];
  EXPECT_TRUE(contains(lines[0], " items/s, ETA ")) << lines[0];
  EXPECT_TRUE(re_search(lines[2], " in [0-9.]+ s \\([0-9]+ items/s\\)$")) << lines[2];
}

TEST(FirstHourProgress, IntervalQuietAndDefault) {
  ProgressDefaults restore;
  Progress::set_forced(true);
  Progress::set_line_interval(3600);  // no line before the summary
  std::string err = capture_stderr([] {
    Progress p("work", 10, "items");
    p.update(5);
    p.finish(10);
  });
  EXPECT_EQ(err.rfind("work: 10 items in ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  Progress::set_quiet_default(true);  // --quiet wins over --progress
  err = capture_stderr([] {
    Progress p("work", 10, "items");
    p.update(5);
    p.finish(10);
  });
  EXPECT_EQ(err, "");
  Progress::set_quiet_default(false);
  Progress::set_forced(false);  // the default: nothing when stderr is not a terminal
  err = capture_stderr([] {
    Progress p("work", 10, "items");
    p.update(5);
    p.finish(10);
  });
  EXPECT_EQ(err, "");
}

// ---- CLI on small random RCC models ----

class FirstHourCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ModelConfig cfg;
    cfg.vocab_size = 8192, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
    cfg.intermediate_size = 64;
    RCCSettings s;
    s.window = 48, s.ratio = 6, s.mode = WindowMode::Aligned;  // 1M / 6 is not a whole number
    init_random_rcc(cfg, s, DType::BF16, 7).save(model(), DType::BF16);
    // A second shape: three layers, compat windows, f32 memory.
    cfg.num_layers = 3, cfg.hidden_size = 48, cfg.num_heads = 6, cfg.intermediate_size = 96;
    s.window = 64, s.ratio = 16, s.mode = WindowMode::Compat, s.memory_dtype = DType::F32;
    init_random_rcc(cfg, s, DType::F32, 8).save(file("model-f32"), DType::F32);
    fs::copy_file(test::fixture("../../models/rcc-tiny/tokenizer.json"),
                  model() + "/tokenizer.json");
    std::string ids = "[";
    for (int i = 0; i < 300; ++i) ids += (i ? "," : "") + std::to_string((i * 37 + 11) % 8000);
    test::write_file(file("ctx.json"), ids + "]");
    test::write_file(file("ctx.txt"),
                     "The cat sat on the sofa. The dog sat on the stool. The bird sat on the "
                     "branch. The fish swam in the bowl.\n");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model() { return dir_->file("model"); }
  static std::string file(const std::string& n) { return dir_->file(n); }
  static json run_json(const std::vector<std::string>& args) {
    const RunResult r = run_rcc(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  static test::TempDir* dir_;
};
test::TempDir* FirstHourCli::dir_ = nullptr;

TEST_F(FirstHourCli, ProgressFlagPrintsLinesOnANonTerminal) {
  const std::vector<std::string> compress = {"compress",     "--model",        model(),
                                             "--input-ids",  file("ctx.json"), "--out",
                                             file("p.rccm"), "--json"};
  RunResult r = run_rcc(compress);  // stderr is a file: no progress by default
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "compressing")) << r.err;
  EXPECT_FALSE(contains(r.err, "loaded model")) << r.err;
  std::vector<std::string> args = compress;
  args.push_back("--progress");
  r = run_rcc(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "loaded model " + model() + " in ")) << r.err;
  EXPECT_TRUE(contains(r.err, "compressing: 300 tokens in ")) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_NO_THROW(json::parse(r.out)) << r.out;  // stdout holds the JSON alone
  args.push_back("--quiet");
  r = run_rcc(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "compressing")) << r.err;

  // ask: compression, memory prefill and generation.
  r = run_rcc({"ask", "--model", model(), "--context-ids", file("ctx.json"), "--prompt-ids",
               "5,6,7", "--max-new-tokens", "3", "--json", "--progress"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "compressing: 300 tokens in ")) << r.err;
  EXPECT_TRUE(contains(r.err, "generating: ")) << r.err;
  EXPECT_NO_THROW(json::parse(r.out)) << r.out;
  r = run_rcc({"ask", "--model", model(), "--context-ids", file("ctx.json"), "--prompt-ids",
               "5,6,7", "--max-new-tokens", "3", "--json"});
  EXPECT_EQ(r.err, "");

  // Every command with --quiet takes --progress (one place: the argument parser); others refuse.
  r = run_rcc({"data", "info", file("missing.rcctok"), "--progress"});
  EXPECT_EQ(r.status, 1) << r.err;  // the missing file, not the flag
  r = run_rcc({"eval", "passkey", "--model", file("missing"), "--progress"});
  EXPECT_NE(r.status, 2) << r.err;
  r = run_rcc({"info", "--model", model(), "--progress"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "unknown option --progress")) << r.err;
}

// The numbers `rcc info` reports for an RCC model, from the formulas and the model's own files.
void check_info(const std::string& dir) {
  SCOPED_TRACE(dir);
  const ModelConfig cfg = ModelConfig::load(dir + "/config.json");
  const RCCSettings s = load_rcc_settings(dir);
  const int64_t L = cfg.num_layers, H = cfg.hidden_size, A = cfg.num_heads;
  const int64_t P = int64_t(std::ceil(1e6 / double(s.ratio)));
  const int64_t elem = s.memory_dtype == DType::F32 ? 4 : 2;

  const json j = [&] {
    const RunResult r = run_rcc({"info", "--model", dir, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }();
  // What plain models report stays.
  for (const char* k : {"parameters", "dtype", "weights_bytes", "kv_cache_bytes_per_token"})
    EXPECT_TRUE(j.contains(k)) << k;
  ASSERT_TRUE(j.contains("rcc")) << j.dump();
  const json& r = j["rcc"];
  for (const char* part : {"encoder", "decoder"}) {
    EXPECT_EQ(r[part]["layers"], L);
    EXPECT_EQ(r[part]["hidden_size"], H);
    EXPECT_EQ(r[part]["num_heads"], A);
  }
  EXPECT_EQ(r["decoder"]["parameters"], cfg.parameter_count());
  EXPECT_EQ(r["encoder"]["parameters"], cfg.parameter_count() - cfg.vocab_size * H);  // no head
  EXPECT_EQ(r["projection_parameters"], (L + 1) * H * H);
  EXPECT_EQ(r["encoder"]["parameters"].get<int64_t>() + r["decoder"]["parameters"].get<int64_t>() +
                r["projection_parameters"].get<int64_t>(),
            j["stored_elements"].get<int64_t>());
  EXPECT_EQ(r["window"], s.window);
  EXPECT_EQ(r["ratio"], s.ratio);
  EXPECT_EQ(r["slots_per_window"], s.window / s.ratio);
  EXPECT_EQ(r["window_mode"], mode_name(s.mode));
  EXPECT_EQ(r["memory_dtype"], s.memory_dtype == DType::F32 ? "f32" : "bf16");
  EXPECT_EQ(r["encoder_precision"], precision_name(s.encoder_precision));
  EXPECT_EQ(r["memory_levels"], L + 1);
  EXPECT_EQ(r["slot_bytes"], (L + 1) * H * elem);
  const json& m = r["per_1m_tokens"];
  EXPECT_EQ(m["slots"], P);
  EXPECT_EQ(m["memory_bytes"], P * (L + 1) * H * elem);
  EXPECT_EQ(m["decoder_cache_bytes"]["cpu_f32"], P * L * 2 * H * 4);
  EXPECT_EQ(m["decoder_cache_bytes"]["cuda_bf16"], P * L * 2 * H * 2);
  EXPECT_EQ(m["decoder_cache_bytes"]["cuda_int8"], P * L * 2 * H + P * L * 2 * A * 4);

  const RunResult text = run_rcc({"info", "--model", dir});
  ASSERT_EQ(text.status, 0) << text.err;
  char want[160];
  std::snprintf(want, sizeof want, "encoder        %lld layers, hidden %lld, %lld heads",
                (long long)L, (long long)H, (long long)A);
  EXPECT_TRUE(contains(text.out, want)) << text.out;
  std::snprintf(want, sizeof want, "decoder        %lld layers, hidden %lld, %lld heads",
                (long long)L, (long long)H, (long long)A);
  EXPECT_TRUE(contains(text.out, want)) << text.out;
  std::snprintf(want, sizeof want, "window %lld, ratio %lld", (long long)s.window,
                (long long)s.ratio);
  EXPECT_TRUE(contains(text.out, want)) << text.out;
  std::snprintf(want, sizeof want, "memory/1M tok  %lld slots x %lld levels x %lld", (long long)P,
                (long long)(L + 1), (long long)H);
  EXPECT_TRUE(contains(text.out, want)) << text.out;
  EXPECT_TRUE(contains(text.out, "cache/1M tok ")) << text.out;
  EXPECT_TRUE(contains(text.out, "parameters ")) << text.out;  // the lines it printed before
}

TEST_F(FirstHourCli, InfoDescribesEncoderDecoderAndMemoryCosts) {
  check_info(model());
  check_info(file("model-f32"));
  // A plain GPT-NeoX directory (the decoder alone) keeps its output, without the RCC part.
  RunResult r = run_rcc({"export", "--model", model(), "--out", file("plain"), "--decoder"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = run_json({"info", "--model", file("plain"), "--json"});
  EXPECT_FALSE(j.contains("rcc"));
  EXPECT_TRUE(j.contains("kv_cache_bytes_per_token"));
  r = run_rcc({"info", "--model", file("plain")});
  EXPECT_FALSE(contains(r.out, "encoder")) << r.out;
}

// The timings object of one answer: every value a non-negative number, the rate consistent with
// the ids, the phases within the total.
void check_timings(const json& a) {
  SCOPED_TRACE(a.dump());
  ASSERT_TRUE(a.contains("timings"));
  const json& t = a["timings"];
  for (auto it = t.begin(); it != t.end(); ++it) {
    EXPECT_TRUE(it.value().is_number()) << it.key();
    EXPECT_GE(it.value().get<double>(), 0.0) << it.key();
  }
  for (const char* k : {"load_s", "compress_s", "prefill_s", "prompt_s", "decode_s",
                        "generated_tokens", "decode_tokens", "decode_tokens_per_s", "total_s"})
    EXPECT_TRUE(t.contains(k)) << k;
  const double decode_s = t["decode_s"];
  EXPECT_EQ(t["generated_tokens"], a["ids"].size());
  // The first token comes from the prompt's pass (prompt_s), the others from one-token steps.
  EXPECT_EQ(t["decode_tokens"], a["ids"].size() - 1);
  EXPECT_GT(t["prompt_s"].get<double>(), 0.0);
  if (a["ids"].size() > 1) {
    ASSERT_GT(decode_s, 0.0);
  }
  EXPECT_NEAR(t["decode_tokens_per_s"].get<double>(), double(a["ids"].size() - 1) / decode_s,
              1e-9 * t["decode_tokens_per_s"].get<double>());
  double phases = 0;
  for (const char* k : {"load_s", "tokenize_s", "memory_load_s", "compress_s", "prefill_s",
                        "kv_cache_load_s", "kv_cache_save_s", "prompt_s", "decode_s"})
    if (t.contains(k)) phases += t[k].get<double>();
  EXPECT_LE(phases, t["total_s"].get<double>() + 1e-6);
}

TEST_F(FirstHourCli, AskJsonTimings) {
  // Streamed context: compression and the memory prefill both measured.
  json a = run_json({"ask", "--model", model(), "--context-ids", file("ctx.json"), "--prompt-ids",
                     "5,6,7", "--max-new-tokens", "4", "--no-stop", "--json"});
  check_timings(a);
  EXPECT_EQ(a["ids"].size(), 4u);
  EXPECT_GT(a["timings"]["compress_s"].get<double>(), 0.0);
  EXPECT_GT(a["timings"]["prefill_s"].get<double>(), 0.0);
  EXPECT_TRUE(a["timings"].contains("tokenize_s"));
  for (const char* k :
       {"ids", "mode", "memory_slots", "context_tokens", "prompt_tokens", "stopped"})
    EXPECT_TRUE(a.contains(k)) << k;  // the keys from before stay

  // A memory file: loaded, not compressed.
  run_json({"compress", "--model", model(), "--input-ids", file("ctx.json"), "--out",
            file("t.rccm"), "--json"});
  a = run_json({"ask", "--model", model(), "--memory", file("t.rccm"), "--prompt-ids", "5,6,7",
                "--max-new-tokens", "4", "--json"});
  check_timings(a);
  EXPECT_EQ(a["timings"]["compress_s"], 0.0);
  EXPECT_TRUE(a["timings"].contains("memory_load_s"));
  EXPECT_GT(a["timings"]["prefill_s"].get<double>(), 0.0);

  // A saved decoder cache: computed and written once, then loaded without a prefill.
  const std::vector<std::string> kv = {
      "ask",   "--model", model(),      "--memory",      file("t.rccm"),     "--prompt-ids",
      "5,6,7", "--json",  "--kv-cache", file("t.rcckv"), "--max-new-tokens", "4"};
  a = run_json(kv);
  check_timings(a);
  EXPECT_TRUE(a["timings"].contains("kv_cache_save_s"));
  EXPECT_GT(a["timings"]["prefill_s"].get<double>(), 0.0);
  json b = run_json(kv);
  check_timings(b);
  EXPECT_TRUE(b["timings"].contains("kv_cache_load_s"));
  EXPECT_EQ(b["timings"]["prefill_s"], 0.0);
  EXPECT_EQ(b["ids"], a["ids"]);

  // --questions: one line per question, each with its own decode time.
  test::write_file(file("questions.txt"), "Where does the cat sit?\nWhat swims?\n");
  const RunResult r =
      run_rcc({"ask", "--model", model(), "--context", file("ctx.txt"), "--questions",
               file("questions.txt"), "--max-new-tokens", "3", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<json> lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  for (const json& l : lines) check_timings(l);
  EXPECT_EQ(lines[0]["timings"]["prefill_s"], lines[1]["timings"]["prefill_s"]);  // shared
  EXPECT_LT(lines[0]["timings"]["total_s"].get<double>(),
            lines[1]["timings"]["total_s"].get<double>());
}

}  // namespace
}  // namespace rcc
