// The NCCL implementation of backend/collective.h. libnccl.so.2 is loaded with dlopen on first use
// (RCC_NCCL_LIB of core/settings.h, then the loader's search path, then the CUDA toolkit's lib
// directories), so single-GPU and CPU runs never need it.
#include <dlfcn.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backend/collective.h"
#include "core/settings.h"
#include "cuda/backend.h"
#include "cuda/common.cuh"

namespace rcc {

namespace {

struct NcclApi {
  decltype(&::ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&::ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&::ncclAllReduce) all_reduce = nullptr;
  decltype(&::ncclCommDestroy) comm_destroy = nullptr;
  decltype(&::ncclGetErrorString) error_string = nullptr;
};

const NcclApi& nccl() {
  static std::mutex mu;
  static NcclApi* api = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (api) return *api;
  std::vector<std::string> tried;
  void* h = nullptr;
  std::vector<std::string> names;
  if (const std::string& lib = runtime_settings().nccl_lib; !lib.empty()) names.push_back(lib);
  names.push_back("libnccl.so.2");
#ifdef RCC_CUDA_LIB_DIR
  names.push_back(std::string(RCC_CUDA_LIB_DIR) + "/libnccl.so.2");
#endif
  names.push_back("/usr/local/cuda/lib/libnccl.so.2");
  names.push_back("/usr/local/cuda/lib64/libnccl.so.2");
  for (const std::string& n : names) {
    h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) break;
    tried.push_back(n);
  }
  RCC_CHECK(
      h, "NCCL: cannot load libnccl.so.2 (tried ",
      [&] {
        std::string s;
        for (const std::string& t : tried) s += (s.empty() ? "" : ", ") + t;
        return s;
      }(),
      "); set RCC_NCCL_LIB to its path");
  auto* a = new NcclApi;
  auto sym = [&](const char* name) {
    void* p = dlsym(h, name);
    RCC_CHECK(p, "NCCL: libnccl.so.2 lacks ", name);
    return p;
  };
  a->get_unique_id = reinterpret_cast<decltype(a->get_unique_id)>(sym("ncclGetUniqueId"));
  a->comm_init_rank = reinterpret_cast<decltype(a->comm_init_rank)>(sym("ncclCommInitRank"));
  a->all_reduce = reinterpret_cast<decltype(a->all_reduce)>(sym("ncclAllReduce"));
  a->comm_destroy = reinterpret_cast<decltype(a->comm_destroy)>(sym("ncclCommDestroy"));
  a->error_string = reinterpret_cast<decltype(a->error_string)>(sym("ncclGetErrorString"));
  api = a;
  return *api;
}

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL ", what, " failed: ", nccl().error_string(r));
}

class NcclCollective final : public Collective {
 public:
  NcclCollective(Backend& be, const ncclUniqueId& id, int rank, int world)
      : be_(be),
        rank_(rank),
        world_(world),
        stream_(static_cast<cudaStream_t>(cuda_backend_stream(be))) {
    be.synchronize();  // the backend's device is current on this thread
    check(nccl().comm_init_rank(&comm_, world, id, rank), "ncclCommInitRank");
    RCC_CUDA_CHECK(cudaMalloc(&scalars_, 64 * sizeof(double)));
  }
  ~NcclCollective() override {
    cudaStreamSynchronize(stream_);
    if (scalars_) cudaFree(scalars_);
    if (comm_) nccl().comm_destroy(comm_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void all_reduce_sum(float* x, int64_t n) override {
    if (n <= 0 || world_ == 1) return;
    check(nccl().all_reduce(x, x, size_t(n), ncclFloat32, ncclSum, comm_, stream_),
          "ncclAllReduce");
  }
  void all_reduce_sum_host(double* x, int n) override {
    RCC_CHECK(n >= 0 && n <= 64, "all_reduce_sum_host: at most 64 values");
    if (n == 0 || world_ == 1) return;
    RCC_CUDA_CHECK(cudaMemcpyAsync(scalars_, x, size_t(n) * 8, cudaMemcpyHostToDevice, stream_));
    check(nccl().all_reduce(scalars_, scalars_, size_t(n), ncclFloat64, ncclSum, comm_, stream_),
          "ncclAllReduce");
    RCC_CUDA_CHECK(cudaMemcpyAsync(x, scalars_, size_t(n) * 8, cudaMemcpyDeviceToHost, stream_));
    RCC_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  Backend& be_;
  int rank_, world_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
  double* scalars_ = nullptr;
};

}  // namespace

std::string nccl_new_id() {
  ncclUniqueId id;
  check(nccl().get_unique_id(&id), "ncclGetUniqueId");
  std::string hex;
  char b[3];
  for (size_t i = 0; i < sizeof id.internal; ++i) {
    std::snprintf(b, sizeof b, "%02x", unsigned(static_cast<unsigned char>(id.internal[i])));
    hex += b;
  }
  return hex;
}

std::unique_ptr<Collective> nccl_collective(Backend& be, const std::string& id_hex, int rank,
                                            int world) {
  RCC_CHECK(be.kind() == DeviceKind::CUDA, "data parallelism needs CUDA devices (got ", be.name(),
            ")");
  RCC_CHECK(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " of a world of ", world);
  ncclUniqueId id;
  RCC_CHECK(id_hex.size() == 2 * sizeof id.internal &&
                id_hex.find_first_not_of("0123456789abcdef") == std::string::npos,
            "malformed NCCL id (", id_hex.size(), " characters; expected ", 2 * sizeof id.internal,
            " hex digits)");
  for (size_t i = 0; i < sizeof id.internal; ++i)
    id.internal[i] = char(std::stoi(id_hex.substr(2 * i, 2), nullptr, 16));
  return std::make_unique<NcclCollective>(be, id, rank, world);
}

}  // namespace rcc
