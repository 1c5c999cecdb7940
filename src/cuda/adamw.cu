// The optimizer step (launch_adamw_tensors, train_kernels.h): AdamW over the flat f32 buffers in
// torch's f32 order of operations without fused multiply-adds (bit-identical to the CPU loop in
// train/optimizer.cpp), one block per chunk of a tensor table, the bf16/f32 compute copies
// written beside the masters. Deterministic.
#include "cuda/train_common.cuh"

namespace rcc::cuda {
using namespace train;
namespace {

// torch.optim.AdamW's single-tensor f32 sequence (train/optimizer.cpp), every operation rounded
// on its own: the explicit-rounding intrinsics keep nvcc from contracting a·b + c into one FMA
// (which would change the rounding), and __fdiv_rn/__fsqrt_rn are IEEE-exact whatever the
// -prec-div/-prec-sqrt flags.
//   p *= decay
//   m = m + (1 − β1)·(g − m)                      (torch.lerp, weight < 0.5)
//   v = v·β2 + ((1 − β2)·g)·g                     (mul_ then addcmul_)
//   denom = sqrt(v) / bc2_sqrt + eps
//   p = p − step_size · (m / denom)               (addcdiv_ with value −step_size)
// 1 − β1 and 1 − β2 are formed in double by the caller and rounded to f32 (as torch's scalars).
// One element of the sequence above; returns the updated parameter.
__device__ __forceinline__ float adamw_element(float* p, float gi, float* m, float* v, float decay,
                                               float w_lerp, float b2, float one_minus_b2,
                                               float eps, float step_size, float bc2_sqrt) {
  float pi = __fmul_rn(*p, decay);
  float mi = *m;
  mi = __fadd_rn(mi, __fmul_rn(w_lerp, __fsub_rn(gi, mi)));
  const float vi = __fadd_rn(__fmul_rn(*v, b2), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
  pi = __fsub_rn(pi, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
  *p = pi;
  *m = mi;
  *v = vi;
  return pi;
}

// The sequence over one chunk per block (launch_adamw_tensors), g scaled first (the f32
// product that scale_f32 stores; a scale of 1 leaves g exact).
__global__ void adamw_chunks_kernel(float* p, const float* g, float* m, float* v,
                                    const AdamWChunk* chunks, const AdamWTensorDev* tensors,
                                    float decay, float w_lerp, float b2, float one_minus_b2,
                                    float eps, float step_size, float bc2_sqrt, float grad_scale) {
  const AdamWChunk c = chunks[blockIdx.x];
  const AdamWTensorDev t = tensors[c.tensor];
  const float dec = t.decayed ? decay : 1.0f;
  for (int j = threadIdx.x; j < c.n; j += blockDim.x) {
    const int64_t i = c.offset + j;
    const float pi = adamw_element(p + i, __fmul_rn(g[i], grad_scale), m + i, v + i, dec, w_lerp,
                                   b2, one_minus_b2, eps, step_size, bc2_sqrt);
    if (t.compute_kind == 1)
      static_cast<bf16*>(t.compute)[c.within + j] = __float2bfloat16_rn(pi);
    else if (t.compute_kind == 2)
      static_cast<float*>(t.compute)[c.within + j] = pi;
  }
}

}  // namespace

void launch_adamw_tensors(float* p, const float* g, float* m, float* v, const AdamWChunk* chunks,
                          int64_t n_chunks, const AdamWTensorDev* tensors, float decay,
                          float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                          float step_size, float bc2_sqrt, float grad_scale, cudaStream_t stream) {
  if (n_chunks <= 0) return;
  RCC_CHECK(n_chunks < (int64_t(1) << 31), "CUDA adamw: ", n_chunks, " chunks");
  adamw_chunks_kernel<<<unsigned(n_chunks), kThreads, 0, stream>>>(
      p, g, m, v, chunks, tensors, decay, one_minus_beta1, beta2, one_minus_beta2, eps, step_size,
      bc2_sqrt, grad_scale);
  RCC_CUDA_LAUNCH_CHECK();
}

}  // namespace rcc::cuda
