// rcc command-line entry point: dispatches to a subcommand; turns every error into one `error:`
// line on stderr with exit status 1 (2 for usage errors). Whatever the command, its output must
// have reached stdout: a write error there (a full disk, a closed pipe, /dev/full) is one
// `error: cannot write to stdout: ...` line and exit status 1.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"info", rcc::cli::cmd_info, "show a model's config, parameter count, dtype and memory needs"},
    {"generate", rcc::cli::cmd_generate, "continue a prompt with a GPT-NeoX model"},
    {"compress", rcc::cli::cmd_compress, "compress a context into a memory file (.rccm)"},
    {"ask", rcc::cli::cmd_ask, "answer a question from a memory file or a context"},
    {"serve", rcc::cli::cmd_serve,
     "serve the model over HTTP: OpenAI-compatible API, stored compressed memories"},
    {"inspect", rcc::cli::cmd_inspect, "show a memory file's metadata, export its slots"},
    {"init", rcc::cli::cmd_init, "write a new RCC model with random weights from a config"},
    {"train", rcc::cli::cmd_train, "train an RCC model from a JSON config"},
    {"eval", rcc::cli::cmd_eval, "score a trained RCC model on held-out task examples"},
    {"export", rcc::cli::cmd_export,
     "re-write a model in another dtype/shard size, or an RCC model's decoder alone"},
    {"data", rcc::cli::cmd_data, "prepare training data: tokenize text corpora into shards"},
    {"tokenize", rcc::cli::cmd_tokenize, "text -> token ids with a tokenizer.json"},
    {"detokenize", rcc::cli::cmd_detokenize, "token ids -> text with a tokenizer.json"},
    {"bench", rcc::cli::cmd_bench, "measure prefill/decode speed and GEMM throughput"},
    {"bench-batch", rcc::cli::cmd_bench_batch,
     "decode speed of many sequences in one batch, on a shared or own memory prefix"},
    {"bench-context", rcc::cli::cmd_bench_context,
     "one point of the memory curve: RCC compression vs plain prefill of N tokens"},
    {"version", rcc::cli::cmd_version,
     "show the version, git commit, CUDA and CPU kernels of this build (also: rcc --version)"},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: rcc <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(f, "  %-12s %s\n", c.name, c.help);
  std::fprintf(f,
               "\nRun 'rcc <command> --help' for a command's options. Commands that show progress\n"
               "on a terminal take --quiet (none) and --progress (plain progress lines on stderr\n"
               "even when it is not a terminal). 'rcc --version' describes this build.\n");
}

// Runs the command `name` (its help, usage and errors included); returns its exit status.
int run(const std::string& name, int argc, char** argv) {
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const rcc::UsageError& e) {
      std::fprintf(stderr, "error: %s (see 'rcc %s --help')\n", e.what(), c.name);
      return 2;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'\n", name.c_str());
  usage(stderr);
  return 2;
}

// `status`, or 1 with one error line when stdout could not be written (an earlier failed write
// leaves its error flag; the final flush reports what is still buffered). A command that already
// failed keeps its own status and error line.
int check_stdout(int status) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !std::ferror(stdout)) return status;
  if (status != 0) return status;
  std::fprintf(stderr, "error: cannot write to stdout: %s\n",
               err != 0 ? std::strerror(err) : "a write failed");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return check_stdout(0);
  }
  if (name == "--version" || name == "-V") name = "version";
  return check_stdout(run(name, argc, argv));
}
