// Hopper warpgroup MMA (wgmma, sm_90a) building blocks of the *_sm90.cu kernels (attention
// backward and forward): 128-byte-swizzled shared-memory tiles of 64-element bf16 rows, their
// matrix descriptors, wgmma.mma_async m64n64k16 (bf16 in, f32 accumulate) with A from shared
// memory or registers, and the fences the asynchronous MMAs need. Included only by files that
// CMake builds for sm_90a alone; the asm exists only in that compilation (RCC_SM90A_BODY).
//
// Tile layout (PTX ISA "Shared Memory Matrix Layout", 128-byte swizzle): row r of 128 bytes at
// r·128, its 16-byte chunk c at ((c ⊕ (r mod 8))·16); tile bases 1024-byte aligned.
// Descriptors (PTX ISA "Matrix Descriptor Format": start address, leading/stride byte offsets,
// swizzle mode 1 = 128 bytes):
//   K-major (the reduction dimension contiguous: a 64-element row holds 4 k-steps of 16):
//     LBO 16 (unused with this swizzle), SBO 1024 (8 rows × 128 B); k-step +32 bytes.
//   MN-major (M or N contiguous, imm-trans 1): 8-row groups along K 1024 bytes apart (SBO; LBO,
//     the stride between 64-wide M/N blocks, does not arise with 64-wide tiles and is given the
//     same value); k-step (16 rows) +2048 bytes.
// Accumulators (64×64 f32, 32 registers per thread of the warpgroup): d[j][e] = row
// 16·warp + g + (e>>1)·8, column 8j + 2tq + (e&1) (lane = 4g + tq) — mma.sync's C fragments
// repeated over 8-column groups; A from registers takes mma.sync's A-fragment layout per warp.
#pragma once
#include <cstdint>

#include "cuda/mma.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RCC_SM90A_BODY 1
#else
#define RCC_SM90A_BODY 0
#endif

namespace rcc::cuda::sm90 {

constexpr int kRowBytes = 128;              // a tile row: 64 bf16 = one swizzle row
constexpr int kTileBytes = 64 * kRowBytes;  // a 64-row tile: 8 KB

// Byte offset of 16-byte chunk `chunk` (0..7) of row r in a swizzled tile.
__device__ __forceinline__ uint32_t sw128(int r, int chunk) {
  return uint32_t(r * kRowBytes + ((chunk ^ (r & 7)) << 4));
}

// ROWS rows (row0.., zero-filled from row n) of a bf16 matrix with row stride `stride` (64
// columns from src_head) into a swizzled tile, 16 bytes per cp.async over NTHR threads.
template <int ROWS, int NTHR>
__device__ __forceinline__ void load_tile_sw(unsigned char* dst, const bf16* src_head, int64_t row0,
                                             int64_t n, int64_t stride, int tid) {
  static_assert(ROWS * 8 % NTHR == 0, "tile loads must divide evenly over the threads");
#pragma unroll
  for (int it = 0; it < ROWS * 8 / NTHR; ++it) {
    const int i = tid + it * NTHR;
    const int r = i / 8, c = i % 8;
    const int64_t row = row0 + r;
    const bool valid = row < n;
    cp_async16(dst + sw128(r, c), src_head + (valid ? row : 0) * stride + c * 8, valid);
  }
}

__device__ __forceinline__ uint64_t desc_encode(uint32_t x) {
  return uint64_t((x & 0x3FFFF) >> 4);
}
// Descriptor of a swizzled tile at shared address `addr` (1024-byte aligned).
__device__ __forceinline__ uint64_t desc_k_major(uint32_t addr) {
  return desc_encode(addr) | (desc_encode(16) << 16) | (desc_encode(1024) << 32) |
         (uint64_t(1) << 62);
}
__device__ __forceinline__ uint64_t desc_mn_major(uint32_t addr) {
  return desc_encode(addr) | (desc_encode(1024) << 16) | (desc_encode(1024) << 32) |
         (uint64_t(1) << 62);
}
constexpr uint64_t kStepK = 32 >> 4;     // descriptor advance per k-step, K-major
constexpr uint64_t kStepMN = 2048 >> 4;  // MN-major

__device__ __forceinline__ void wgmma_fence() {
#if RCC_SM90A_BODY
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if RCC_SM90A_BODY
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if RCC_SM90A_BODY
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Keeps the compiler from moving accesses of an accumulator across the asynchronous MMAs.
__device__ __forceinline__ void fence_operand(float (&d)[8][4]) {
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}
// Generic-proxy writes of shared memory (cp.async, st.shared) made visible to wgmma's reads.
__device__ __forceinline__ void fence_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#define RCC_WGMMA_D32                                                                           \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define RCC_WGMMA_OUT(d)                                                                        \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),     \
      "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), \
      "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), \
      "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), \
      "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), \
      "+f"(d[7][2]), "+f"(d[7][3])

// d (64×64 f32, 32 registers per thread: d[j][e] = row 16·warp + g + (e>>1)·8, column
// 8j + 2tq + (e&1)) = A·B (+ d when accumulate): A, B from shared memory (64×16 and 16×64).
template <int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_ss(float (&d)[8][4], uint64_t a, uint64_t b, int accumulate) {
#if RCC_SM90A_BODY
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " RCC_WGMMA_D32
      ", %32, %33, p, 1, 1, %35, %36;\n}\n"
      : RCC_WGMMA_OUT(d)
      : "l"(a), "l"(b), "r"(accumulate), "n"(TRANS_A), "n"(TRANS_B));
#endif
}
// The same with A (64×16 bf16) from registers in the A-fragment layout of mma.sync per warp.
template <int TRANS_B>
__device__ __forceinline__ void wgmma_rs(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b,
                                         int accumulate) {
#if RCC_SM90A_BODY
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " RCC_WGMMA_D32
      ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : RCC_WGMMA_OUT(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(TRANS_B));
#endif
}
#undef RCC_WGMMA_D32
#undef RCC_WGMMA_OUT

// p[0..3] += v: one fire-and-forget vector reduction (sm_90), p 16-byte aligned.

// A fragment (16 columns ks·16.. of this warp's 16 rows, bf16) from a 64-column accumulator.
__device__ __forceinline__ void a_fragment(const float (&d)[8][4], int ks, uint32_t (&a)[4]) {
  a[0] = pack_bf16(d[2 * ks][0], d[2 * ks][1]);
  a[1] = pack_bf16(d[2 * ks][2], d[2 * ks][3]);
  a[2] = pack_bf16(d[2 * ks + 1][0], d[2 * ks + 1][1]);
  a[3] = pack_bf16(d[2 * ks + 1][2], d[2 * ks + 1][3]);
}

__device__ __forceinline__ void zero(float (&d)[8][4]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) d[j][0] = d[j][1] = d[j][2] = d[j][3] = 0.0f;
}

}  // namespace rcc::cuda::sm90
