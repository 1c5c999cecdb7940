// rcc serve [--model DIR] [--host 127.0.0.1] [--port 8080] [--store DIR] [--device D]
//           [--api-key KEY | --api-key-file F] [--parallel N] [--cache-mib N] [limits]
// An HTTP server with an OpenAI-compatible API whose documents are compressed memories
// (src/server, docs/server.md). One line per request on stderr; SIGINT/SIGTERM stop it after the
// requests in progress (the store stays consistent: an unfinished compression is marked failed at
// the next start).
#include <signal.h>

#include <algorithm>
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
    "  --api-key KEY | --api-key-file F   require Authorization: Bearer KEY (all but /health)\n"
    "  --parallel N           requests handled at once (default 4; answers take turns on the "
    "model)\n"
    "  --cache-mib N          decoder caches of memories kept, MiB (default 1024)\n"
    "  --max-body-mib N       request body limit (default 64)\n"
    "  --max-context-tokens N tokens of one memory or request context (default 1048576)\n"
    "  --max-tokens N         max_tokens limit of one completion (default 4096)\n"
    "  --max-jobs N           compressions queued at once (default 64)\n"
    "  --threads N            CPU threads\n";
}  // namespace

int cmd_serve(int argc, char** argv) {
  Args a(argc, argv,
         {"model", "host", "port", "store", "device", "api-key", "api-key-file", "parallel",
          "cache-mib", "max-body-mib", "max-context-tokens", "max-tokens", "max-jobs", "threads"},
         {"help", "quiet"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  a.no_positionals();
  init_runtime(a);
  server::ServeOptions opt;
  opt.model_dir = model_dir(a);
  opt.host = a.get_or("host", opt.host);
  opt.port = int(a.get_int("port", opt.port, 0, 65535));
  opt.store_dir = a.get_or("store", opt.store_dir);
  opt.device = a.get_or("device", opt.device);
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
  opt.cache_mib = a.get_int("cache-mib", opt.cache_mib, 0, int64_t(1) << 30);
  opt.max_body_bytes = a.get_int("max-body-mib", 64, 1, 1 << 20) << 20;
  opt.max_context_tokens =
      a.get_int("max-context-tokens", opt.max_context_tokens, 1, int64_t(1) << 32);
  opt.max_tokens = a.get_int("max-tokens", opt.max_tokens, 1, 1 << 24);
  opt.max_jobs = int(a.get_int("max-jobs", opt.max_jobs, 1, 1 << 20));

  // SIGINT/SIGTERM go to one thread that stops the server; every other thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal

  server::MemoryStore store(opt.store_dir);
  server::Engine engine(opt, store);
  std::thread signal_thread;
  server::serve(opt, engine, store, [&](int port, std::function<void()> stop) {
    std::fprintf(stderr, "rcc serve: model %s, store %s, listening on http://%s:%d\n",
                 opt.model_dir.c_str(), opt.store_dir.c_str(), opt.host.c_str(), port);
    signal_thread = std::thread([stop_signals, stop] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::fprintf(stderr, "rcc serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop();
    });
  });
  // listen returned: stopped by a signal (the signal thread has ended), or failed; then the
  // signal thread is woken with a signal of its own.
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
  }
  std::fprintf(stderr, "rcc serve: stopped\n");
  return 0;
}

}  // namespace rcc::cli
