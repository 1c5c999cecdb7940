// Backend selection by name ("cpu", "cuda", "cuda:N"), shared by every subcommand's --device.
#include <map>
#include <memory>
#include <mutex>

#include "backend/backend.h"
#include "backend/collective.h"
#include "core/error.h"
#ifdef RCC_HAS_CUDA
#include "cuda/backend.h"
#endif

namespace rcc {

bool cuda_compiled() {
#ifdef RCC_HAS_CUDA
  return true;
#else
  return false;
#endif
}

Backend& backend_for(const std::string& device) {
  if (device == "cpu") return cpu_backend();
  int index = -1;
  if (device == "cuda") {
    index = 0;
  } else if (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.size() < 9 &&
             device.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(device.substr(5));
  }
  if (index < 0) throw UsageError(str_cat("unknown device '", device, "' (cpu, cuda or cuda:N)"));
#ifdef RCC_HAS_CUDA
  static std::mutex mu;
  static std::map<int, std::unique_ptr<Backend>> made;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = made[index];
  if (!slot) slot = make_cuda_backend(index);
  return *slot;
#else
  throw Error(str_cat("--device ", device, ": this rcc was built without CUDA (configure with ",
                      "the CUDA toolkit installed, -DRCC_CUDA=ON)"));
#endif
}

#if !defined(RCC_HAS_CUDA) || defined(RCC_NO_NCCL)
// Without CUDA (or without NCCL's header at build time) there is no NCCL: data parallelism reports
// itself unavailable.
std::string nccl_new_id() {
  fail("multi-GPU training needs a build with CUDA (NCCL)");
}
std::unique_ptr<Collective> nccl_collective(Backend&, const std::string&, int, int) {
  fail("multi-GPU training needs a build with CUDA (NCCL)");
}
#endif

}  // namespace rcc
