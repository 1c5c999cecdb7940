// Tensor-core building blocks of the attention kernels (attention/flash.cu and the attention
// backward, attention/backward*.cu): cp.async copies global → shared, ldmatrix fragment
// loads, mma.sync m16n8k16 (bf16 in, f32 accumulate), bf16 packing, and the one-time raise of a
// kernel's dynamic shared-memory limit. Included only by .cu files.
//
// Register fragments (PTX ISA, mma.m16n8k16 with .bf16): lane = 4·g + tq;
//   A (16×16, row): a0 = (g, 2tq..+1), a1 = (g+8, 2tq..), a2 = (g, 2tq+8..), a3 = (g+8, 2tq+8..)
//   B (16×8, col):  b0 = (k 2tq..+1, n g), b1 = (k 2tq+8..+9, n g)
//   C (16×8):       c0,c1 = (g, 2tq..+1), c2,c3 = (g+8, 2tq..+1)
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "cuda/common.cuh"

namespace rcc::cuda {

// 2^x on the special-function unit, subnormal results flushed to zero (one MUFU.EX2; exp2f's
// non-flushing form adds a range check and two multiplies around it). 2^−inf = 0.
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}
// 16 bytes global → shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(n)
               : "memory");
}
// 4 bytes global → shared, asynchronously; zero-filled when !valid.
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  const int n = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(n)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// One step of a double-buffered cp.async pipeline: when `more`, start loading the next tile
// (load() issues its copies into the other buffer) and wait for every group but that one, so the
// current tile has landed; otherwise wait for everything. The caller's barrier follows.
template <class Load>
__device__ __forceinline__ void cp_async_prefetch_or_drain(bool more, Load&& load) {
  if (more) {
    load();
    cp_async_commit();
    cp_async_wait<1>();
  } else {
    cp_async_wait<0>();
  }
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// d += a · b (16×8×16, bf16 → f32).
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  return *reinterpret_cast<uint32_t*>(&v);
}

// Raises the dynamic shared-memory limit of `kernel` to `smem` bytes once per device (devices
// 0..63; others every launch). `configured`: one per kernel instantiation, a bit per device.
template <class Kernel>
void allow_dynamic_smem(Kernel kernel, size_t smem, std::atomic<uint64_t>& configured) {
  int dev = 0;
  RCC_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = dev < 64 ? uint64_t(1) << dev : 0;
  if (!bit || !(configured.load(std::memory_order_relaxed) & bit)) {
    RCC_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    configured.fetch_or(bit, std::memory_order_relaxed);
  }
}

}  // namespace rcc::cuda
