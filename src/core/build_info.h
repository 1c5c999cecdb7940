// What this build of rcc is (`rcc --version`): the project version, the git commit it was built
// from ("unknown" when built outside a git checkout, "-dirty" when tracked files differed from it),
// whether the CUDA backend is compiled in (and how many NVIDIA GPUs the driver lists, read from
// /proc without starting CUDA), and the BLAS library as it reports itself at run time.
#pragma once
#include <string>

namespace rcc {

struct BlasInfo {
  std::string name;     // "OpenBLAS"
  std::string version;  // "0.3.21"
  std::string core;     // the kernel set picked for this CPU at run time ("Haswell", "SkylakeX")
  std::string config;   // the library's own description (openblas_get_config())
};

struct BuildInfo {
  std::string version;      // the CMake project version
  std::string commit;       // abbreviated hash of HEAD at build time, or "unknown"
  std::string build_type;   // CMAKE_BUILD_TYPE
  std::string compiler;     // the C++ compiler's name and version
  bool cuda = false;        // the CUDA backend is compiled in
  std::string cuda_detail;  // nvcc version and GPU architectures (CUDA builds)
  int driver_gpus = -1;     // GPUs under /proc/driver/nvidia/gpus; -1: no NVIDIA driver loaded
  BlasInfo blas;
};

// Cheap and side-effect free: reads compile-time constants, the BLAS library's strings and /proc.
BuildInfo build_info();

}  // namespace rcc
