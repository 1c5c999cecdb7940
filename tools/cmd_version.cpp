// rcc version [--json] (also `rcc --version`): the version, the git commit this binary was built
// from, whether the CUDA backend is compiled in, and the CPU kernels picked at run time
// (kernels/kernels.h). Prints on stdout, exit status 0.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/build_info.h"
#include "kernels/kernels.h"
#include "output.h"

namespace rcc::cli {

namespace {
const char* kHelp =
    "usage: rcc --version [--json]   (or: rcc version [--json])\n"
    "Shows the version, the git commit this binary was built from (\"unknown\" outside a git\n"
    "checkout), whether the CUDA backend is compiled in and the CPU kernels in use.\n"
    "  --json                  one JSON object on stdout\n";
}

int cmd_version(int argc, char** argv) {
  Args a(argc, argv, {}, {"json", "help"});
  a.no_positionals();
  if (a.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const BuildInfo b = build_info();
  if (a.has("json")) {
    nlohmann::json cuda = {{"compiled", b.cuda}};
    if (b.cuda) {
      cuda["detail"] = b.cuda_detail;
      cuda["driver_gpus"] = b.driver_gpus;
    }
    const nlohmann::json j = {{"version", b.version},
                              {"commit", b.commit},
                              {"build_type", b.build_type},
                              {"compiler", b.compiler},
                              {"cuda", cuda},
                              {"cpu_kernels", kernels::describe_kernels()}};
    print_json(j);
    return 0;
  }
  std::printf("rcc %s\n", b.version.c_str());
  std::printf("commit    %s\n", b.commit.c_str());
  std::printf("build     %s, %s\n", b.build_type.c_str(), b.compiler.c_str());
  if (!b.cuda) {
    std::printf("cuda      off (built without the CUDA backend; --device cpu only)\n");
  } else if (b.driver_gpus < 0) {
    std::printf("cuda      compiled in (%s); no NVIDIA driver loaded\n", b.cuda_detail.c_str());
  } else {
    std::printf("cuda      compiled in (%s); the NVIDIA driver lists %d GPU(s)\n",
                b.cuda_detail.c_str(), b.driver_gpus);
  }
  std::printf("cpu       %s kernels\n", kernels::describe_kernels().c_str());
  return 0;
}

}  // namespace rcc::cli
