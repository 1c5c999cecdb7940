// The HTTP side of `rcc serve` (docs/server.md): OpenAI-compatible endpoints (/v1/models,
// /v1/chat/completions, /v1/completions, streamed as server-sent events or not), the memory
// resources (/v1/memories), /health and /metrics, on cpp-httplib. Every request body is checked
// field by field; every error is an OpenAI error object with a 4xx/5xx status.
#pragma once
#include <functional>

#include "server/engine.h"
#include "server/options.h"

namespace rcc::server {

// Serves until `stop` is called from another thread (or a signal handler thread) through the
// function handed to `on_ready` (called once listening, with the bound port). Throws when the
// address cannot be bound.
void serve(const ServeOptions& opt, Engine& engine, MemoryStore& store,
           const std::function<void(int port, std::function<void()> stop)>& on_ready);

}  // namespace rcc::server
