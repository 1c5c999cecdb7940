// Collective communication between the processes of a data-parallel run (one process per GPU):
// sums of gradient buffers and of a few host numbers across ranks. Implemented with NCCL (loaded
// with dlopen like cuBLAS: src/cuda/nccl_collective.cu); builds without CUDA report it as absent.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace rcc {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // x [n] f32 on the rank's backend := Σ over ranks (in place, ordered on the backend's stream).
  virtual void all_reduce_sum(float* x, int64_t n) = 0;
  // x [n] doubles on the host := Σ over ranks (synchronises).
  virtual void all_reduce_sum_host(double* x, int n) = 0;
};

// A new NCCL rendezvous id as hex text, to give to every rank. The calling process hosts NCCL's
// bootstrap until the ranks have connected, so it must outlive their set-up (the launcher does).
std::string nccl_new_id();
// Joins rank `rank` of `world` over the CUDA backend `be` (its device and stream); blocks until
// every rank has joined.
std::unique_ptr<Collective> nccl_collective(Backend& be, const std::string& id_hex, int rank,
                                            int world);

}  // namespace rcc
