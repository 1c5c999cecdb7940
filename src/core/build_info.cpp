#include "core/build_info.h"

#include <filesystem>

#include "rcc_build_commit.h"  // generated at build time (cmake/build_commit.cmake)
#include "rcc_build_config.h"  // generated at configure time (CMakeLists.txt)

namespace rcc {

namespace {

int nvidia_driver_gpus() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = "/proc/driver/nvidia/gpus";
  if (!fs::is_directory(dir, ec)) return -1;
  int n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

}  // namespace

BuildInfo build_info() {
  BuildInfo i;
  i.version = RCC_VERSION;
  i.commit = RCC_GIT_COMMIT;
  i.build_type = RCC_BUILD_TYPE;
#if defined(__clang__)
  i.compiler = "Clang " __clang_version__;
#elif defined(__GNUC__)
  i.compiler = "GCC " __VERSION__;
#else
  i.compiler = "unknown";
#endif
  i.cuda = RCC_BUILD_CUDA != 0;
  i.cuda_detail = RCC_BUILD_CUDA_DETAIL;
  if (i.cuda) i.driver_gpus = nvidia_driver_gpus();
  return i;
}

}  // namespace rcc
