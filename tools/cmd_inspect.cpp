// rcc inspect X.rccm [--json] [--export-slots F.safetensors]
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/hash.h"
#include "io/safetensors.h"
#include "output.h"
#include "paths.h"
#include "rcc/memory_file.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc inspect X.rccm [--json] [--export-slots F.safetensors]\n"
    "Shows a memory file's metadata; --export-slots writes its slots as one f32 tensor \"slots\"\n"
    "of shape [P, L+1, H] (not onto the memory file; a symbolic link is written through).\n";
}

int cmd_inspect(int argc, char** argv) {
  Args a(argc, argv, {"export-slots"}, {"json", "help"});
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.positional().size() != 1) throw UsageError("give exactly one memory file");
  const std::string path = a.positional()[0];
  // The export goes neither onto the memory itself nor into a missing or read-only directory;
  // checked before the memory is read.
  std::optional<std::string> export_to;
  if (auto e = a.get("export-slots"))
    export_to = check_output_file(*e, "--export-slots", {{"memory file", path}});
  Memory m = load_memory(path);
  nlohmann::json j;
  j["file"] = path;
  j["format_version"] = 1;
  j["encoder_fingerprint"] = hex64(m.encoder_fingerprint);
  j["window"] = m.window;
  j["ratio"] = m.ratio;
  j["mode"] = mode_name(m.mode);
  j["token_count"] = m.token_count;
  j["source_hash"] = hex64(m.source_hash);
  j["dtype"] = dtype_name(m.dtype);
  j["slots"] = m.slots();
  j["levels"] = m.levels;
  j["hidden"] = m.hidden;
  j["tail_tokens"] = m.tail_ids.size();
  j["payload_bytes"] = m.data.size();
  if (export_to) {
    write_safetensors(*export_to, {{"slots", m.as_tensor().to(DType::F32)}});
    j["exported"] = a.require("export-slots");
  }
  if (a.has("json")) {
    print_json(j);
    return 0;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    std::printf("%-20s %s\n", it.key().c_str(),
                it.value().is_string() ? it.value().get<std::string>().c_str()
                                       : json_text(it.value()).c_str());
  return 0;
}

}  // namespace rcc::cli
