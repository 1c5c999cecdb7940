// What this build of rcc is (`rcc --version`): the project version, the git commit it was built
// from ("unknown" when built outside a git checkout, "-dirty" when tracked files differed from it),
// whether the CUDA backend is compiled in (and how many NVIDIA GPUs the driver lists, read from
// /proc without starting CUDA). The CPU kernels in use are kernels::describe_kernels().
#pragma once
#include <string>

namespace rcc {

struct BuildInfo {
  std::string version;      // the CMake project version
  std::string commit;       // abbreviated hash of HEAD at build time, or "unknown"
  std::string build_type;   // CMAKE_BUILD_TYPE
  std::string compiler;     // the C++ compiler's name and version
  bool cuda = false;        // the CUDA backend is compiled in
  std::string cuda_detail;  // nvcc version and GPU architectures (CUDA builds)
  int driver_gpus = -1;     // GPUs under /proc/driver/nvidia/gpus; -1: no NVIDIA driver loaded
};

// Cheap and side-effect free: reads compile-time constants and /proc.
BuildInfo build_info();

}  // namespace rcc
