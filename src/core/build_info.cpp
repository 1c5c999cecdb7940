#include "core/build_info.h"

#include <cblas.h>

#include <filesystem>
#include <sstream>

#include "rcc_build_commit.h"  // generated at build time (cmake/build_commit.cmake)
#include "rcc_build_config.h"  // generated at configure time (CMakeLists.txt)

namespace rcc {

namespace {

BlasInfo blas_info() {
  BlasInfo b;
  const char* config = openblas_get_config();
  const char* core = openblas_get_corename();
  b.config = config ? config : "";
  b.core = core ? core : "";
  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64": name, then version.
  std::istringstream words(b.config);
  words >> b.name >> b.version;
  if (b.name.empty()) b.name = "OpenBLAS";
  return b;
}

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
  i.blas = blas_info();
  return i;
}

}  // namespace rcc
