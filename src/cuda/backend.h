// The CUDA backend (backend/backend.h): activations in bf16 on one GPU, weights in bf16 (vectors in
// f32), KV caches in bf16 or int8 with per-(position, head) f32 scales. Compiled only when CMake
// finds a CUDA compiler (RCC_HAS_CUDA); plain C++ interface, no CUDA headers.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace rcc {

// A backend on GPU `device_index`; throws rcc::Error when there is no such device.
std::unique_ptr<Backend> make_cuda_backend(int device_index);

// The cudaStream_t (as void*) on which a CUDA backend enqueues all its work: for timing with CUDA
// events in tests and benchmarks. Throws rcc::Error for a non-CUDA backend.
void* cuda_backend_stream(Backend& be);

}  // namespace rcc
