// The machine's ceilings that benchmark pages compare against, measured in the same process:
// memory read bandwidth (all pool threads streaming a 1 GiB buffer) and the peak f32 FMA rate of
// the CPU kernels in use (kernels/kernels.h FmaPeak on every thread).
#pragma once
#include <nlohmann/json.hpp>

namespace rcc::cli {

struct MachineFloors {
  double read_gbps = 0;   // bytes read per second / 1e9, best of several passes
  double fma_gflops = 0;  // f32 flops per second / 1e9 (2 per fused multiply-add)
};

MachineFloors measure_floors();
// {"kernels": ..., "threads": ..., "read_gbps": ..., "fma_gflops": ...}
nlohmann::json floors_json(const MachineFloors& f);

}  // namespace rcc::cli
