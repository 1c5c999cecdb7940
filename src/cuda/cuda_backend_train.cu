// CudaBackend's training ops (backend/backend.h, "training"): rotary split and its backward,
// self-attention with log-sum-exps and its backward, the backward passes of linear, GELU, layer
// norm and the embedding, cross-entropy, sums of squares and the AdamW update. The class and the
// rest of its methods: cuda_backend_impl.h, cuda_backend.cu.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "cuda/cuda_backend_impl.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_train_kernels.h"

namespace rcc::cuda {

void CudaBackend::zero(void* p, size_t bytes) {
  if (bytes == 0) return;
  use();
  RCC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
}

void CudaBackend::rotary_split(const void* qkv, int64_t rows, int64_t heads, int64_t hd,
                               int64_t rot, double base, int64_t pos0, void* q, void* k, void* v) {
  if (rows <= 0) return;
  RCC_CHECK(rot >= 0 && rot <= hd, "CUDA rotary_split: rotary dims ", rot, " exceed head_dim ", hd);
  use();
  // The cache-writing kernel with plain [rows, heads·hd] buffers as "cache" (it writes position
  // pos0 + r at row pos0 + r: the buffers are passed shifted back by pos0 rows).
  cuda::QkvToCacheArgs a;
  a.qkv = static_cast<const bf16*>(qkv);
  a.rows = rows;
  a.heads = int(heads);
  a.hd = int(hd);
  a.rot = int(rot);
  a.inv_freq = inv_freq(rot, base);
  a.rope = rope_table(pos0 + rows, rot, base);
  a.pos0 = pos0;
  a.q_out = static_cast<bf16*>(q);
  a.k = static_cast<bf16*>(k) - pos0 * heads * hd;
  a.v = static_cast<bf16*>(v) - pos0 * heads * hd;
  cuda::launch_qkv_to_cache(a, stream_);
}

void CudaBackend::rotary_split_backward(const void* dq, const void* dk, const void* dv,
                                        int64_t rows, int64_t heads, int64_t hd, int64_t rot,
                                        double base, int64_t pos0, void* dqkv) {
  if (rows <= 0) return;
  use();
  cuda::launch_rotary_split_backward(
      static_cast<const bf16*>(dq), static_cast<const bf16*>(dk), static_cast<const bf16*>(dv),
      rows, int(heads), int(hd), int(rot), inv_freq(rot, base), rope_table(pos0 + rows, rot, base),
      pos0, static_cast<bf16*>(dqkv), stream_);
}

namespace {
// The non-empty sequences of a batch, and the rows they span (the largest end).
struct Batch {
  std::vector<cuda::SeqRows> seqs;
  int64_t rows = 0;
};
Batch batch_of(std::span<const std::pair<int64_t, int64_t>> seqs) {
  Batch b;
  b.seqs.reserve(seqs.size());
  for (const auto& [begin, n] : seqs)
    if (n > 0) {
      b.seqs.push_back({begin, n});
      b.rows = std::max(b.rows, begin + n);
    }
  return b;
}
}  // namespace

// Every sequence in one launch of the flash kernel (a block per 128-query tile of any sequence,
// the longest first) when it applies; otherwise one run_attention per sequence.
void CudaBackend::self_attention(const void* q, const void* k, const void* v,
                                 std::span<const std::pair<int64_t, int64_t>> seqs, int64_t heads,
                                 int64_t hd, void* out, float* lse) {
  const Batch batch = batch_of(seqs);
  const std::vector<cuda::SeqRows>& s = batch.seqs;
  if (s.empty()) return;
  use();
  const int64_t H = heads * hd;
  cuda::AttentionArgs a = attention_args(q, H, k, v, H, heads, hd, batch.rows, 0, out, H);
  a.lse = lse;
  if (cuda::flash_supported(a)) {
    cuda::launch_flash_attention_tiles(
        a, cuda::causal_tiles(s.data(), int64_t(s.size()), cuda::kFlashTileRows, true, false),
        stream_);
    return;
  }
  for (const cuda::SeqRows& r : s) {
    cuda::AttentionArgs one = attention_args(
        act_at(*this, q, r.begin * H), H, act_at(*this, k, r.begin * H),
        act_at(*this, v, r.begin * H), H, heads, hd, r.n, 0, act_at(*this, out, r.begin * H), H);
    one.lse = lse ? lse + r.begin * heads : nullptr;
    run_attention(one);
  }
}

void CudaBackend::self_attention_backward(const void* q, const void* k, const void* v,
                                          const void* out, const float* lse, const void* dout,
                                          std::span<const std::pair<int64_t, int64_t>> seqs,
                                          int64_t heads, int64_t hd, void* dq, void* dk, void* dv) {
  const Batch batch = batch_of(seqs);
  const std::vector<cuda::SeqRows>& s = batch.seqs;
  if (s.empty()) return;
  use();
  const int64_t rows = batch.rows;
  const size_t ws = cuda::attention_backward_workspace(rows, int(heads), int(hd));
  if (ws) ensure(&attn_bwd_ws_, &attn_bwd_ws_bytes_, ws);
  cuda::launch_attention_backward(
      static_cast<const bf16*>(q), static_cast<const bf16*>(k), static_cast<const bf16*>(v),
      static_cast<const bf16*>(out), lse, static_cast<const bf16*>(dout), s.data(),
      int64_t(s.size()), rows, int(heads), int(hd), static_cast<bf16*>(dq), static_cast<bf16*>(dk),
      static_cast<bf16*>(dv), attn_bwd_ws_, stream_);
}

void CudaBackend::linear_backward(const void* x, int64_t rows, const Tensor& W, const void* dy,
                                  void* dx, bool accumulate_dx, float* dW, float* db) {
  check_matrix(W, "linear weight");
  if (rows <= 0) return;
  use();
  const int64_t N = W.dim(0), K = W.dim(1);
  const bf16* w = static_cast<const bf16*>(W.raw());
  const bf16* g = static_cast<const bf16*>(dy);
  // Column-major views of the row-major buffers (cuda_gemm.h): a row-major [r, c] matrix is a
  // column-major [c, r] one with leading dimension c.
  // dx^T [K, rows] = W^T [K, N] · dy^T [N, rows]
  if (dx) gemm_->run_general(false, false, K, rows, N, w, K, g, N, dx, K, false, accumulate_dx);
  // dW^T [K, N] += x^T [K, rows] · dy [rows, N]   (dy^T stored [N, rows], used transposed)
  if (dW)
    gemm_->run_general(false, true, K, N, rows, static_cast<const bf16*>(x), K, g, N, dW, K, true,
                       true);
  // db [N] += dy^T [N, rows] · 1 [rows]: a matrix-vector product reads dy once at full
  // bandwidth (a column-sum kernel has only N / 64 blocks of work at N = 768).
  if (db) gemm_->run_general(false, false, N, 1, rows, g, N, ones(rows), rows, db, N, true, true);
}

void CudaBackend::gelu_backward(const void* pre, const void* dy, void* dx, int64_t n) {
  use();
  cuda::launch_gelu_backward(static_cast<const bf16*>(pre), static_cast<const bf16*>(dy),
                             static_cast<bf16*>(dx), n, stream_);
}

void CudaBackend::layer_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w,
                                      float eps, const void* dy, void* dx, float* dw, float* db) {
  check_vector(w, H, "layer_norm weight");
  if (rows <= 0) return;
  use();
  const size_t ws = cuda::layer_norm_backward_workspace(rows, H);
  if (ws) ensure(&ln_bwd_ws_, &ln_bwd_ws_bytes_, ws);
  cuda::launch_layer_norm_backward(
      static_cast<const bf16*>(x), rows, H, static_cast<const float*>(w.raw()), eps,
      static_cast<const bf16*>(dy), static_cast<bf16*>(dx), dw, db, ln_bwd_ws_, stream_);
}

void CudaBackend::scatter_add_rows(const void* src, const int64_t* idx_host, int64_t n,
                                   int64_t width, void* dst) {
  if (n <= 0 || width <= 0) return;
  use();
  int64_t* idx = static_cast<int64_t*>(upload_index(idx_host, size_t(n) * sizeof(int64_t)));
  cuda::launch_scatter_add_rows(static_cast<const bf16*>(src), idx, n, width,
                                static_cast<bf16*>(dst), stream_);
}

void CudaBackend::embedding_backward(const int32_t* ids_host, int64_t n, const void* dx, int64_t H,
                                     float* dtable) {
  if (n <= 0) return;
  use();
  int32_t* ids = static_cast<int32_t*>(upload_index(ids_host, size_t(n) * sizeof(int32_t)));
  cuda::launch_embedding_backward(ids, n, static_cast<const bf16*>(dx), H, dtable, stream_);
}

void CudaBackend::linear_f32(const void* x, int64_t rows, const Tensor& W, float* y) {
  check_matrix(W, "linear weight");
  use();
  gemm_->run(static_cast<const bf16*>(x), rows, W.dim(1), static_cast<const bf16*>(W.raw()),
             W.dim(0), nullptr, y, true, false);
}

double CudaBackend::cross_entropy(const float* logits, int64_t rows, int64_t V,
                                  const int32_t* targets_host, const float* weights_host,
                                  void* dlogits, float scale) {
  if (rows <= 0) return 0.0;
  for (int64_t r = 0; r < rows; ++r)
    RCC_CHECK(targets_host[r] >= 0 && targets_host[r] < V, "cross_entropy: target ",
              targets_host[r], " of row ", r, " outside [0, ", V, ")");
  use();
  // One upload of targets | weights, then the per-row losses back.
  const size_t tb = size_t(rows) * 4, bytes = 2 * tb + size_t(rows) * 4;
  ensure(&ce_buf_, &ce_buf_bytes_, bytes);
  char* base = static_cast<char*>(ce_buf_);
  void* st = stage(2 * tb);
  std::memcpy(st, targets_host, tb);
  std::memcpy(static_cast<char*>(st) + tb, weights_host, tb);
  staged_copy(base, st, 2 * tb);
  float* loss = reinterpret_cast<float*>(base + 2 * tb);
  cuda::launch_cross_entropy(logits, rows, V, reinterpret_cast<const int32_t*>(base),
                             reinterpret_cast<const float*>(base + tb), scale, loss,
                             static_cast<bf16*>(dlogits), stream_);
  std::vector<float> l(static_cast<size_t>(rows));
  copy_to_host(l.data(), loss, tb);
  double sum = 0;
  for (float x : l) sum += double(x);  // row order, as the CPU sums
  return sum;
}

double CudaBackend::sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  use();
  const size_t ws = cuda::sum_squares_workspace(n) + 8;
  ensure(&ss_ws_, &ss_ws_bytes_, ws);
  double* out = static_cast<double*>(ss_ws_);
  cuda::launch_sum_squares(x, n, static_cast<char*>(ss_ws_) + 8, out, stream_);
  double r = 0;
  copy_to_host(&r, out, 8);
  return r;
}

void CudaBackend::scale_f32(float* x, int64_t n, float s) {
  use();
  cuda::launch_scale_f32(x, n, s, stream_);
}

void CudaBackend::adamw(float* p, const float* g, float* m, float* v, int64_t n, float decay,
                        double beta1, double beta2, double eps, float step_size, float bc2_sqrt) {
  use();
  cuda::launch_adamw(p, g, m, v, n, decay, float(1.0 - beta1), float(beta2), float(1.0 - beta2),
                     float(eps), step_size, bc2_sqrt, stream_);
}

void CudaBackend::master_to_matrix(const float* src, int64_t n, void* dst) {
  use();
  cuda::launch_convert_to_bf16(DType::F32, src, static_cast<bf16*>(dst), n, stream_);
}

}  // namespace rcc::cuda
