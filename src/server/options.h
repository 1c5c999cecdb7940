// Settings of `rcc serve`, from its flags (tools/cmd_serve.cpp); docs/server.md lists them.
#pragma once
#include <cstdint>
#include <string>

namespace rcc::server {

struct ServeOptions {
  std::string model_dir;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string store_dir = "rcc-store";
  std::string device = "cpu";
  std::string encoder_precision;         // "": the model's rcc.json; "bf16" or "fp8"
  std::string api_key;                   // "": no authentication
  int parallel = 32;                     // requests handled at once (HTTP worker threads)
  int max_batch = 64;                    // sequences decoding together (the rest wait to join)
  int64_t prefill_chunk = 256;           // prompt rows fed per decoding step (chunked prefill)
  int64_t cache_mib = 1024;              // decoder caches of memories kept (LRU), MiB
  int64_t max_body_bytes = 64 << 20;     // request body
  int64_t max_context_tokens = 1 << 20;  // tokens of one memory or one request's context
  int64_t max_tokens = 4096;             // max_tokens of one completion
  int max_connections = 64;              // requests in progress (beyond: 503)
  int max_jobs = 64;                     // compressions queued or running (beyond: 429)
  int max_n = 8;                         // choices per completion
};

}  // namespace rcc::server
