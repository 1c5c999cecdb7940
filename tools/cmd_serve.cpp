// rcc serve [--model DIR] [--host 127.0.0.1] [--port 8080] [--store DIR] [--device D]
//           [--api-key KEY | --api-key-file F] [--parallel N] [--cache-mib N] [limits]
// An HTTP server with an OpenAI-compatible API whose documents are compressed memories
// (src/server, docs/server.md). One line per request on stderr; SIGINT/SIGTERM stop it after the
// requests in progress (the store stays consistent: an unfinished compression is marked failed at
// the next start).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "args.h"
#include "commands.h"
#include "core/text_file.h"
#include "server/engine.h"
#include "server/http_api.h"
#include "server/store.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc serve [--model DIR] [--host H] [--port P] [--store DIR] [options]\n"
    "Serves the model over HTTP with an OpenAI-compatible API (/v1/chat/completions,\n"
    "/v1/completions, /v1/models) and stored compressed memories (/v1/memories); docs/server.md.\n"
    "  --model DIR            default: $RCC_MODEL, else the bundled models/rcc-tiny\n"
    "  --host H               default 127.0.0.1 (this machine only); 0.0.0.0 for every address\n"
    "  --port P               default 8080; 0 picks a free port (printed on stderr)\n"
    "  --store DIR            memories and their index (default ./rcc-store)\n"
    "  --device D             cpu (default), cuda or cuda:N\n"
    "  --encoder-precision P  bf16 or fp8 (the encoder's matrix products; fp8: cuda on Hopper)\n"
    "  --api-key KEY | --api-key-file F   require Authorization: Bearer KEY (all but /health)\n"
    "  --parallel N           requests handled at once (HTTP threads, default 32)\n"
    "  --max-batch N          sequences decoding together in one batch (default 64)\n"
    "  --prefill-chunk N      prompt tokens fed per decoding step (default 256)\n"
    "  --cache-mib N          decoder caches of memories kept, MiB (default 1024)\n"
    "  --max-body-mib N       request body limit (default 64)\n"
    "  --max-context-tokens N tokens of one memory or request context (default 1048576)\n"
    "  --max-tokens N         max_tokens limit of one completion (default 4096)\n"
    "  --max-jobs N           compressions queued at once (default 64)\n"
    "  --threads N            CPU threads\n";
int g_stop_pipe[2] = {-1, -1};

void on_stop_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(g_stop_pipe[1], &b, 1);
}
}  // namespace

int cmd_serve(int argc, char** argv) {
  Args a(argc, argv,
         {"model", "host", "port", "store", "device", "api-key", "api-key-file", "parallel",
          "max-batch", "prefill-chunk", "cache-mib", "max-body-mib", "max-context-tokens",
          "max-tokens", "max-jobs", "threads", "encoder-precision"},
         {"help", "quiet"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  a.no_positionals();
  // SIGINT/SIGTERM: the handler (on whatever thread receives it; some pools start before main)
  // writes the signal to a pipe; a watcher thread reads it and stops the server.
  RCC_CHECK(::pipe(g_stop_pipe) == 0, "serve: cannot create a pipe");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal
  init_runtime(a);
  server::ServeOptions opt;
  opt.model_dir = model_dir(a);
  opt.host = a.get_or("host", opt.host);
  opt.port = int(a.get_int("port", opt.port, 0, 65535));
  opt.store_dir = a.get_or("store", opt.store_dir);
  opt.device = a.get_or("device", opt.device);
  if (auto p = encoder_precision(a)) opt.encoder_precision = precision_name(*p);
  if (a.has("api-key") && a.has("api-key-file"))
    throw UsageError("give --api-key or --api-key-file, not both");
  if (auto k = a.get("api-key")) opt.api_key = *k;
  if (auto f = a.get("api-key-file")) {
    opt.api_key = read_text_file(*f);
    while (!opt.api_key.empty() && (opt.api_key.back() == '\n' || opt.api_key.back() == '\r'))
      opt.api_key.pop_back();
    RCC_CHECK(!opt.api_key.empty(), *f, ": the API key file is empty");
  }
  opt.parallel = int(a.get_int("parallel", opt.parallel, 1, 1024));
  opt.max_connections = std::max(opt.parallel, 1);
  opt.max_batch = int(a.get_int("max-batch", opt.max_batch, 1, 4096));
  opt.prefill_chunk = a.get_int("prefill-chunk", opt.prefill_chunk, 1, 1 << 20);
  opt.cache_mib = a.get_int("cache-mib", opt.cache_mib, 0, int64_t(1) << 30);
  opt.max_body_bytes = a.get_int("max-body-mib", 64, 1, 1 << 20) << 20;
  opt.max_context_tokens =
      a.get_int("max-context-tokens", opt.max_context_tokens, 1, int64_t(1) << 32);
  opt.max_tokens = a.get_int("max-tokens", opt.max_tokens, 1, 1 << 24);
  opt.max_jobs = int(a.get_int("max-jobs", opt.max_jobs, 1, 1 << 20));

  server::MemoryStore store(opt.store_dir);
  server::Engine engine(opt, store);
  std::thread signal_thread;
  server::serve(opt, engine, store, [&](int port, std::function<void()> stop) {
    std::fprintf(stderr, "rcc serve: model %s, store %s, listening on http://%s:%d\n",
                 opt.model_dir.c_str(), opt.store_dir.c_str(), opt.host.c_str(), port);
    signal_thread = std::thread([stop] {
      unsigned char sig = 0;
      while (::read(g_stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
      }
      if (sig != 0)
        std::fprintf(stderr, "rcc serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop();
    });
  });
  // listen returned: stopped by a signal (the watcher has ended), or failed; then the watcher is
  // woken with a zero byte.
  if (signal_thread.joinable()) {
    const unsigned char zero = 0;
    if (::write(g_stop_pipe[1], &zero, 1) < 0) std::perror("rcc serve");
    signal_thread.join();
  }
  std::fprintf(stderr, "rcc serve: stopped\n");
  return 0;
}

}  // namespace rcc::cli
