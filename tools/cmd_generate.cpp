// rcc generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N]
//              [sampling flags] [--json]
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "inputs.h"
#include "model/generate.h"
#include "model/load.h"
#include "output.h"
#include "sampling_flags.h"
#include "tokenizer/tokenizer.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]\n"
    "  --max-new-tokens N      tokens to generate (default 16)\n"
    "  --temperature T         0 = greedy (default); > 0 samples\n"
    "  --top-k K, --top-p P    sampling filters (default off)\n"
    "  --repetition-penalty R  > 1 discourages repeats (default 1)\n"
    "  --seed S                sampling seed (default 0)\n"
    "  --stop-ids 0,5          stop after any of these ids (default: the model's eos)\n"
    "  --no-stop               never stop early\n"
    "  --threads N             worker threads (default: all cores)\n"
    "  --device D              cpu (default), cuda or cuda:N (builds with CUDA)\n"
    "  --quiet, --progress     no progress on stderr / progress even when it is not a terminal\n"
    "  --json                  one JSON object on stdout: ids, text (with a tokenizer), timings\n";
}

int cmd_generate(int argc, char** argv) {
  Args a(argc, argv,
         {"model", "prompt", "prompt-ids", "max-new-tokens", "temperature", "top-k", "top-p",
          "repetition-penalty", "seed", "stop-ids", "threads", "device"},
         {"json", "no-stop", "quiet", "help"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  init_runtime(a);
  const std::string dir = a.require("model");
  if (a.has("prompt") == a.has("prompt-ids"))
    throw UsageError("give exactly one of --prompt and --prompt-ids");
  GenerateParams gp;
  gp.max_new_tokens = a.get_int("max-new-tokens", 16, 0, 1 << 24);
  gp.sampling = sampling_from_flags(a);

  auto t0 = std::chrono::steady_clock::now();
  std::optional<Tokenizer> tokenizer;  // DIR/tokenizer.json: encodes --prompt, decodes the output
  if (auto path = find_tokenizer(dir)) tokenizer = Tokenizer::load(*path);
  Progress load("loaded model " + dir, 1, "");
  Transformer model = load_model(dir, device_backend(a));
  load.finish(1);
  gp.stop_ids = a.has("no-stop")    ? std::vector<int32_t>{}
                : a.has("stop-ids") ? parse_id_list(a.require("stop-ids"), "stop-ids")
                                    : model.config().eos_token_ids;
  check_ids(gp.stop_ids, model.config().vocab_size, "--stop-ids");
  std::vector<int32_t> prompt;
  if (a.has("prompt-ids")) {
    prompt = parse_id_list(a.require("prompt-ids"), "prompt-ids");
    check_ids(prompt, model.config().vocab_size, "--prompt-ids");
  } else {
    if (!tokenizer)
      fail("--prompt needs a tokenizer.json beside config.json in ", dir, " (use --prompt-ids)");
    prompt = tokenizer->encode(a.require("prompt"));
    RCC_CHECK(!prompt.empty(), "--prompt is empty (it encodes to no tokens)");
  }
  check_prompt_length(int64_t(prompt.size()), model.config(), "the prompt");
  auto t1 = std::chrono::steady_clock::now();
  Progress gen("generating", gp.max_new_tokens, "tokens");
  GenerateResult r = generate(model, prompt, gp);
  auto t2 = std::chrono::steady_clock::now();
  gen.finish(int64_t(r.ids.size()));
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double gen_s = std::chrono::duration<double>(t2 - t1).count();
  if (a.has("json")) {
    nlohmann::json j;
    j["ids"] = r.ids;
    if (tokenizer) j["text"] = tokenizer->decode(r.ids);
    j["prompt_tokens"] = prompt.size();
    j["stopped"] = r.stopped;
    j["load_seconds"] = load_s;
    j["generate_seconds"] = gen_s;
    print_json(j);
  } else if (tokenizer) {
    const std::string text = tokenizer->decode(r.ids);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
  } else {
    for (size_t i = 0; i < r.ids.size(); ++i) std::printf("%s%d", i ? "," : "", r.ids[i]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace rcc::cli
