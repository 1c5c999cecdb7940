#include "server/http_api.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/json_fields.h"
#include "tokenizer/utf8.h"

namespace rcc::server {

using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
thread_local int64_t t_tokens = 0;  // tokens generated for the request this thread handles (log)
thread_local Clock::time_point t_start;  // when this thread began the request (log)

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 gen(std::random_device{}());
  std::lock_guard<std::mutex> l(mu);
  char b[40];
  std::snprintf(b, sizeof b, "%s%016llx", prefix, (unsigned long long)gen());
  return b;
}

json error_body(const std::string& message, const std::string& type, const std::string& code,
                const std::string& param = "") {
  json e = {{"message", message}, {"type", type}, {"code", code}};
  e["param"] = param.empty() ? json(nullptr) : json(param);
  return {{"error", e}};
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type, const std::string& code, const std::string& param = "") {
  send_json(res, status, error_body(message, type, code, param));
}

ApiError bad(const std::string& param, const std::string& message) {
  return ApiError(400, "invalid_request_error", "invalid_value", param + ": " + message);
}

// The request body as a JSON object (400 when it is not one).
json body_object(const httplib::Request& req) {
  if (!tok::utf8::is_valid(req.body))
    throw ApiError(400, "invalid_request_error", "invalid_json", "the body is not valid UTF-8");
  json j;
  try {
    j = parse_json(req.body, "request body");
  } catch (const Error& e) {
    throw ApiError(400, "invalid_request_error", "invalid_json", e.what());
  }
  if (!j.is_object())
    throw ApiError(400, "invalid_request_error", "invalid_json", "the body must be a JSON object");
  return j;
}

// Typed optional fields of a request object; a present field of the wrong type or range is a 400
// naming it. `null` counts as absent (as OpenAI's API treats it).
struct Fields {
  const json& j;
  const json* at(const char* k) const {
    auto it = j.find(k);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  std::optional<std::string> str(const char* k) const {
    const json* v = at(k);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw bad(k, "must be a string");
    return v->get<std::string>();
  }
  std::optional<double> num(const char* k, double lo, double hi) const {
    const json* v = at(k);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad(k, "must be a number");
    const double d = v->get<double>();
    if (!(d >= lo && d <= hi)) throw bad(k, str_cat("must be in [", lo, ", ", hi, "]"));
    return d;
  }
  std::optional<int64_t> integer(const char* k, int64_t lo, int64_t hi) const {
    const json* v = at(k);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw bad(k, "must be an integer");
    const int64_t i = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                          ? INT64_MAX
                          : v->get<int64_t>();
    if (i < lo || i > hi) throw bad(k, str_cat("must be in [", lo, ", ", hi, "]"));
    return i;
  }
  bool boolean(const char* k) const {
    const json* v = at(k);
    if (!v) return false;
    if (!v->is_boolean()) throw bad(k, "must be true or false");
    return v->get<bool>();
  }
  std::vector<int32_t> ids(const char* k) const {
    const json* v = at(k);
    std::vector<int32_t> out;
    if (!v) return out;
    if (!v->is_array()) throw bad(k, "must be an array of token ids");
    for (const json& x : *v) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
        throw bad(k, "must hold non-negative integer token ids");
      out.push_back(int32_t(x.get<int64_t>()));
    }
    return out;
  }
};

// Sampling, length and stop settings shared by both completion endpoints.
void read_generation(const Fields& f, const ServeOptions& opt, AnswerRequest& r) {
  r.gen.max_new_tokens = 256;
  if (auto v = f.integer("max_tokens", 1, opt.max_tokens)) r.gen.max_new_tokens = *v;
  if (auto v = f.integer("max_completion_tokens", 1, opt.max_tokens)) r.gen.max_new_tokens = *v;
  r.gen.min_new_tokens = 1;
  if (auto v = f.num("temperature", 0, 2)) r.gen.sampling.temperature = float(*v);
  if (auto v = f.num("top_p", 0, 1)) {
    if (*v <= 0) throw bad("top_p", "must be greater than 0");
    r.gen.sampling.top_p = float(*v);
  }
  if (auto v = f.integer("seed", INT64_MIN, INT64_MAX)) r.gen.sampling.seed = uint64_t(*v);
  if (auto v = f.integer("n", 1, opt.max_n)) r.n = int(*v);
  if (const json* s = f.at("stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 4) {
      for (const json& x : *s) {
        if (!x.is_string()) throw bad("stop", "must be a string or an array of up to 4 strings");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad("stop", "must be a string or an array of up to 4 strings");
    }
    for (const std::string& x : r.stop)
      if (x.empty()) throw bad("stop", "an empty stop string");
  }
}

// The RCC extensions: memories (ids of stored memories), context (text), question_mode.
void read_rcc_fields(const Fields& f, AnswerRequest& r) {
  if (const json* m = f.at("memories")) {
    if (!m->is_array() || m->size() > 64)
      throw bad("memories", "must be an array of up to 64 memory ids");
    for (const json& x : *m) {
      if (!x.is_string() || !valid_memory_id(x.get<std::string>()))
        throw bad("memories", "must hold memory ids (\"mem_\" and 16 hex digits)");
      r.memories.push_back(x.get<std::string>());
    }
  }
  r.context = f.str("context");
  if (auto q = f.str("question_mode")) {
    if (*q != "manual" && *q != "ir") throw bad("question_mode", "must be \"manual\" or \"ir\"");
    r.ir = *q == "ir";
  } else {
    r.ir = r.context.has_value() && r.memories.empty();  // as `rcc ask`: IR for a context alone
  }
}

// The question of a chat: the content of the last user message (text, or the text parts of an
// array content). Earlier turns are not read (RCC answers one question from its memories).
std::string read_question(const Fields& f) {
  const json* msgs = f.at("messages");
  if (!msgs || !msgs->is_array() || msgs->empty())
    throw bad("messages", "must be a non-empty array of messages");
  std::string question;
  bool found = false;
  for (const json& m : *msgs) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad("messages", "each message needs a string role");
    const std::string role = m["role"];
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" &&
        role != "tool")
      throw bad("messages", "unknown role '" + role + "'");
    if (role != "user") continue;
    const json c = m.value("content", json());
    std::string text;
    if (c.is_string()) {
      text = c.get<std::string>();
    } else if (c.is_array()) {
      for (const json& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          throw bad("messages", "only text content parts are supported");
        text += part["text"].get<std::string>();
      }
    } else {
      throw bad("messages", "a user message needs a string content");
    }
    question = text;
    found = true;
  }
  if (!found) throw bad("messages", "no user message");
  return question;
}

json usage_json(const AnswerResult& r) {
  int64_t completion = 0;
  for (const Choice& c : r.choices) completion += c.tokens;
  const int64_t prompt = r.prompt_tokens + r.context_tokens;
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"rcc",
           {{"memory_slots", r.memory_slots},
            {"context_tokens", r.context_tokens},
            {"decoder_cache_hit", r.cache_hit}}}};
}

json memory_json(const MemoryRecord& r, const Engine& e) {
  json j = {{"id", r.id},
            {"object", "memory"},
            {"name", r.name},
            {"status", r.status},
            {"mode", r.mode},
            {"tokens", r.tokens},
            {"slots", r.slots},
            {"bytes", r.bytes},
            {"encoder_fingerprint", r.encoder_fingerprint},
            {"usable", r.encoder_fingerprint == e.fingerprint()},
            {"created_at", r.created_at},
            {"updated_at", r.updated_at}};
  j["error"] = r.error.empty() ? json(nullptr) : json(r.error);
  if (auto p = e.job_progress(r.id))
    j["progress"] = {{"done_tokens", p->first}, {"total_tokens", p->second}};
  return j;
}

// Text or ids of a memory request: a JSON object with "text" or "ids", or a text/plain body.
struct MemoryInput {
  std::optional<std::string> text;
  std::vector<int32_t> ids;
  std::string name, mode;
};

MemoryInput read_memory_input(const httplib::Request& req) {
  MemoryInput in;
  const std::string ct = req.get_header_value("Content-Type");
  if (ct.rfind("text/plain", 0) == 0) {
    if (!tok::utf8::is_valid(req.body))
      throw ApiError(400, "invalid_request_error", "invalid_text", "the body is not valid UTF-8");
    in.text = req.body;
    if (req.has_param("name")) in.name = req.get_param_value("name");
    if (req.has_param("mode")) in.mode = req.get_param_value("mode");
  } else {
    const json j = body_object(req);
    const Fields f{j};
    in.text = f.str("text");
    in.ids = f.ids("ids");
    in.name = f.str("name").value_or("");
    in.mode = f.str("mode").value_or("");
    if (in.text.has_value() == (f.at("ids") != nullptr))
      throw bad("text", "give exactly one of \"text\" and \"ids\"");
  }
  if (!in.mode.empty() && in.mode != "aligned" && in.mode != "compat")
    throw bad("mode", "must be \"aligned\" or \"compat\"");
  if (in.name.size() > 256) throw bad("name", "at most 256 bytes");
  return in;
}

std::string sse(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace

void serve(const ServeOptions& opt, Engine& engine, MemoryStore& store,
           const std::function<void(int, std::function<void()>)>& on_ready) {
  httplib::Server svr;
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> requests{0}, errors{0};

  svr.new_task_queue = [&] { return new httplib::ThreadPool(size_t(opt.max_connections)); };
  svr.set_payload_max_length(size_t(opt.max_body_bytes));
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);
  svr.set_keep_alive_max_count(100);
  svr.set_keep_alive_timeout(5);

  // Authentication (all but GET /health) and the in-flight limit, before any route.
  svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    t_tokens = 0;
    t_start = Clock::now();
    requests++;
    if (req.method == "GET" && req.path == "/health")
      return httplib::Server::HandlerResponse::Unhandled;
    if (!opt.api_key.empty() && req.get_header_value("Authorization") != "Bearer " + opt.api_key) {
      send_error(res, 401, "a valid API key is needed: Authorization: Bearer <key>",
                 "invalid_request_error", "invalid_api_key");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 400) errors++;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t_start).count();
    std::fprintf(stderr, "%s %s %d %.1f ms %lld tokens\n", req.method.c_str(), req.path.c_str(),
                 res.status, ms, (long long)t_tokens);
  });
  // Errors httplib answers itself (404 without a route, 413 over the body limit, ...), as OpenAI
  // error objects.
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string msg =
        res.status == 404   ? "no route " + req.method + " " + req.path
        : res.status == 413 ? "the request body is larger than this server accepts (--max-body-mib)"
                            : "request failed";
    send_error(res, res.status, msg, "invalid_request_error",
               res.status == 404   ? "not_found"
               : res.status == 413 ? "body_too_large"
                                   : "error");
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const ApiError& e) {
          send_error(res, e.status, e.what(), e.type, e.code);
        } catch (const Error& e) {
          send_error(res, 400, e.what(), "invalid_request_error", "invalid_request");
        } catch (const std::bad_alloc&) {
          send_error(res, 503, "out of memory", "server_error", "out_of_memory");
        } catch (const std::exception& e) {
          send_error(res, 500, e.what(), "server_error", "internal_error");
        }
      });

  // In-flight limit for the expensive endpoints: beyond --max-connections, 503 at once.
  auto admit = [&](httplib::Response& res) {
    if (in_flight.fetch_add(1) >= opt.max_connections) {
      in_flight--;
      send_error(res, 503, "the server is busy (too many requests in progress); retry later",
                 "server_error", "overloaded");
      return false;
    }
    return true;
  };
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n--; }
  };

  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  });
  svr.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    const auto& cfg = engine.model().decoder.config();
    send_json(
        res, 200,
        {{"object", "list"},
         {"data", json::array({{{"id", engine.model_name()},
                                {"object", "model"},
                                {"created", 0},
                                {"owned_by", "rcc"},
                                {"rcc",
                                 {{"window", engine.model().settings.window},
                                  {"ratio", engine.model().settings.ratio},
                                  {"mode", mode_name(engine.model().settings.mode)},
                                  {"encoder_fingerprint", engine.fingerprint()},
                                  {"max_position_embeddings", cfg.max_position_embeddings}}}}})}});
  });

  // Both completion endpoints: chat (question through the chat template) and text (raw prompt).
  auto completion = [&](const httplib::Request& req, httplib::Response& res, bool chat) {
    if (!admit(res)) return;
    Leave leave{in_flight};
    const json body = body_object(req);
    const Fields f{body};
    if (auto m = f.str("model"); m && *m != engine.model_name())
      throw ApiError(
          404, "invalid_request_error", "model_not_found",
          "model '" + *m + "' is not served here (this server has '" + engine.model_name() + "')");
    AnswerRequest ar;
    read_generation(f, opt, ar);
    read_rcc_fields(f, ar);
    if (chat) {
      ar.question = read_question(f);
    } else {
      const json* p = f.at("prompt");
      if (!p) throw bad("prompt", "is required");
      if (p->is_string()) {
        ar.raw_prompt = engine.tokenizer().encode(p->get<std::string>());
      } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
        ar.raw_prompt = f.ids("prompt");
      } else {
        throw bad("prompt", "must be a string or an array of token ids");
      }
      ar.raw = true;
      ar.ir = false;
    }
    ar.gen.stop_ids = engine.model().decoder.config().eos_token_ids;
    engine.check(ar);  // 4xx before a stream starts
    const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
    const int64_t created = unix_now();
    const std::string object = chat ? "chat.completion" : "text_completion";
    if (!f.boolean("stream")) {
      const AnswerResult r = engine.answer(ar, nullptr);
      json choices = json::array();
      for (size_t i = 0; i < r.choices.size(); ++i) {
        json c = {
            {"index", i}, {"finish_reason", r.choices[i].finish_reason}, {"logprobs", nullptr}};
        if (chat)
          c["message"] = {{"role", "assistant"}, {"content", r.choices[i].text}};
        else
          c["text"] = r.choices[i].text;
        choices.push_back(c);
        t_tokens += r.choices[i].tokens;
      }
      send_json(res, 200,
                {{"id", id},
                 {"object", object},
                 {"created", created},
                 {"model", engine.model_name()},
                 {"choices", choices},
                 {"usage", usage_json(r)}});
      return;
    }
    const bool include_usage = f.at("stream_options") && f.at("stream_options")->is_object() &&
                               f.at("stream_options")->value("include_usage", false);
    const std::string chunk_object = chat ? "chat.completion.chunk" : "text_completion";
    res.set_header("Cache-Control", "no-cache");
    in_flight++;  // the stream outlives this handler; the provider's end releases it
    res.set_chunked_content_provider(
        "text/event-stream",
        [&engine, ar, id, created, chat, chunk_object, include_usage](size_t,
                                                                      httplib::DataSink& sink) {
          auto chunk = [&](int index, const json& delta_or_text, const json& finish) {
            json c = {{"index", index}, {"finish_reason", finish}, {"logprobs", nullptr}};
            if (chat)
              c["delta"] = delta_or_text;
            else
              c["text"] = delta_or_text;
            return sse({{"id", id},
                        {"object", chunk_object},
                        {"created", created},
                        {"model", engine.model_name()},
                        {"choices", json::array({c})}});
          };
          auto write = [&](const std::string& s) {
            return sink.is_writable() && sink.write(s.data(), s.size());
          };
          try {
            if (chat)
              for (int i = 0; i < ar.n; ++i)
                if (!write(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr)))
                  return false;
            const AnswerResult r = engine.answer(ar, [&](int i, const std::string& text) {
              return write(chunk(i, chat ? json{{"content", text}} : json(text), nullptr));
            });
            for (size_t i = 0; i < r.choices.size(); ++i) {
              t_tokens += r.choices[i].tokens;
              write(chunk(int(i), chat ? json::object() : json(""), r.choices[i].finish_reason));
            }
            if (include_usage)
              write(sse({{"id", id},
                         {"object", chunk_object},
                         {"created", created},
                         {"model", engine.model_name()},
                         {"choices", json::array()},
                         {"usage", usage_json(r)}}));
            write("data: [DONE]\n\n");
          } catch (const ApiError& e) {
            write(sse(error_body(e.what(), e.type, e.code)));
          } catch (const std::exception& e) {
            write(sse(error_body(e.what(), "server_error", "internal_error")));
          }
          sink.done();
          return true;
        },
        [&in_flight](bool) { in_flight--; });
  };
  svr.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    completion(req, res, true);
  });
  svr.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    completion(req, res, false);
  });

  // Memories.
  auto memory_id = [](const httplib::Request& req) {
    const std::string id = req.matches[1];
    if (!valid_memory_id(id))
      throw ApiError(404, "invalid_request_error", "memory_not_found", "no memory " + id);
    return id;
  };
  svr.Post("/v1/memories", [&](const httplib::Request& req, httplib::Response& res) {
    const MemoryInput in = read_memory_input(req);
    const MemoryRecord r = engine.create_memory(in.name, in.text, in.ids, in.mode);
    send_json(res, 202, memory_json(r, engine));
  });
  svr.Get("/v1/memories", [&](const httplib::Request& req, httplib::Response& res) {
    int64_t limit = 20;
    if (req.has_param("limit")) {
      const std::string l = req.get_param_value("limit");
      if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(l) < 1 || std::stoi(l) > 100)
        throw bad("limit", "must be an integer in [1, 100]");
      limit = std::stoi(l);
    }
    const std::string after = req.has_param("after") ? req.get_param_value("after") : "";
    if (!after.empty() && !valid_memory_id(after)) throw bad("after", "must be a memory id");
    bool more = false;
    json data = json::array();
    for (const MemoryRecord& r : store.list(limit, after, &more))
      data.push_back(memory_json(r, engine));
    json j = {{"object", "list"}, {"data", data}, {"has_more", more}};
    j["first_id"] = data.empty() ? json(nullptr) : data.front()["id"];
    j["last_id"] = data.empty() ? json(nullptr) : data.back()["id"];
    send_json(res, 200, j);
  });
  svr.Get(R"(/v1/memories/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string id = memory_id(req);
    auto r = store.get(id);
    if (!r) throw ApiError(404, "invalid_request_error", "memory_not_found", "no memory " + id);
    send_json(res, 200, memory_json(*r, engine));
  });
  svr.Post(R"(/v1/memories/([^/]+)/append)",
           [&](const httplib::Request& req, httplib::Response& res) {
             const std::string id = memory_id(req);
             const MemoryInput in = read_memory_input(req);
             if (!in.mode.empty() || !in.name.empty())
               throw bad("mode", "an append keeps the memory's name and mode");
             const MemoryRecord r = engine.append_memory(id, in.text, in.ids);
             send_json(res, 202, memory_json(r, engine));
           });
  svr.Delete(R"(/v1/memories/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string id = memory_id(req);
    if (engine.job_active(id))
      throw ApiError(409, "invalid_request_error", "memory_busy",
                     "memory " + id + " is being compressed; delete it when the job has ended");
    engine.forget_cached(id);
    if (!store.remove(id))
      throw ApiError(404, "invalid_request_error", "memory_not_found", "no memory " + id);
    send_json(res, 200, {{"id", id}, {"object", "memory.deleted"}, {"deleted", true}});
  });

  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    EngineStats& s = engine.stats();
    const double gs = s.generate_seconds.load();
    std::string m;
    auto metric = [&](const char* name, const char* type, const char* help, double v) {
      m += str_cat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", v,
                   "\n");
    };
    metric("rcc_requests_total", "counter", "HTTP requests received", double(requests.load()));
    metric("rcc_request_errors_total", "counter", "HTTP responses with status >= 400",
           double(errors.load()));
    metric("rcc_answers_total", "counter", "completions answered", double(s.answers.load()));
    metric("rcc_generated_tokens_total", "counter", "tokens generated",
           double(s.generated_tokens.load()));
    metric("rcc_prompt_tokens_total", "counter", "prompt and context tokens read",
           double(s.prompt_tokens.load()));
    metric("rcc_generate_seconds_total", "counter", "seconds spent answering (model held)", gs);
    metric("rcc_generated_tokens_per_second", "gauge", "generated tokens per answering second",
           gs > 0 ? double(s.generated_tokens.load()) / gs : 0.0);
    metric("rcc_answers_waiting", "gauge", "answers waiting for the model",
           double(s.answers_waiting.load()));
    metric("rcc_requests_in_flight", "gauge", "completion requests in progress",
           double(in_flight.load()));
    metric("rcc_jobs_queued", "gauge", "compression jobs queued or running",
           double(engine.queued_jobs()));
    metric("rcc_jobs_done_total", "counter", "compression jobs finished",
           double(s.jobs_done.load()));
    metric("rcc_jobs_failed_total", "counter", "compression jobs failed",
           double(s.jobs_failed.load()));
    metric("rcc_decoder_cache_hits_total", "counter", "answers whose memory prefix was cached",
           double(s.cache_hits.load()));
    metric("rcc_decoder_cache_misses_total", "counter",
           "answers that prefilled their memory prefix", double(s.cache_misses.load()));
    metric("rcc_memories", "gauge", "memories in the store", double(store.count()));
    metric("rcc_decoder_cache_bytes", "gauge", "bytes of the cached memory prefixes (LRU)",
           double(s.cache_bytes.load()));
    metric("rcc_batch_sequences", "gauge", "sequences in the decoding batch after its last step",
           double(s.batch_sequences.load()));
    metric("rcc_batch_steps_total", "counter", "decoding steps (one forward pass each)",
           double(s.batch_steps.load()));
    metric("rcc_batch_tail_bytes", "gauge",
           "cache bytes the batch's sequences hold of their own (prompt and answer)",
           double(s.batch_tail_bytes.load()));
    metric("rcc_batch_prefix_bytes", "gauge",
           "cache bytes of the memory prefixes the batch reads, each counted once",
           double(s.batch_prefix_bytes.load()));
    res.set_content(m, "text/plain; version=0.0.4");
  });

  const int port = opt.port == 0 ? svr.bind_to_any_port(opt.host)
                                 : (svr.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  RCC_CHECK(port > 0, "cannot listen on ", opt.host, ":", opt.port,
            " (in use, or not an address of this machine)");
  on_ready(port, [&svr] { svr.stop(); });
  svr.listen_after_bind();
}

}  // namespace rcc::server
