// CudaBackend's training ops (backend/backend.h, "training"): rotary on the fused qkv (both ways),
// self-attention with log-sum-exps and its backward, the backward passes of linear, GELU, layer
// norm and the embedding, cross-entropy, sums of squares and the AdamW update. The class and the
// rest of its methods: backend_impl.h, backend.cu.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "cuda/backend_impl.h"
#include "cuda/kernels.h"
#include "cuda/train_kernels.h"

namespace rcc::cuda {

void CudaBackend::zero(void* p, size_t bytes) {
  if (bytes == 0) return;
  use();
  RCC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
}

// Both directions: one launch over every row of the batch, positions from the cached per-row table.
void CudaBackend::rotary_qkv(void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                             const AttentionShape& sh, const Rope& rope, bool inverse) {
  const int64_t hd = sh.hd, rot = rope.dims;
  RCC_CHECK(rot >= 0 && rot <= hd, "CUDA rotary_qkv: rotary dims ", rot, " exceed head_dim ", hd);
  const RowPositions rp = row_positions(seqs);
  if (rp.rows == 0 || rot < 2) return;
  cuda::launch_rotary_qkv_rows(static_cast<bf16*>(qkv), rp.rows, int(sh.heads), int(sh.kv_heads),
                               !sh.interleaved, int(hd), int(rot), rp.pos,
                               rope_table(rp.longest, rope), inverse, stream_);
}

void CudaBackend::check_trainable(const AttentionShape& sh,
                                  std::span<const std::pair<int64_t, int64_t>> seqs) {
  for (const auto& seq : seqs)
    RCC_CHECK(sh.window == 0 || seq.second <= sh.window, "CUDA training: a sliding attention ",
              "window of ", sh.window, " over a sequence of ", seq.second,
              " positions is not supported");
}

const void* CudaBackend::expand_qkv(const void* qkv, int64_t rows, const AttentionShape& sh) {
  grow(scratch_.gqa_exp, act_bytes(rows * 3 * sh.q_width()));
  cuda::launch_expand_qkv(static_cast<const bf16*>(qkv), static_cast<bf16*>(scratch_.gqa_exp.get()),
                          rows, int(sh.heads), int(sh.kv_heads), int(sh.hd), stream_);
  return scratch_.gqa_exp.get();
}

void CudaBackend::rms_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w,
                                    float eps, const void* dy, void* dx, float* dw) {
  check_vector(w, H, "rms_norm weight");
  use();
  grow(scratch_.rms_bwd, size_t(cuda::rms_norm_backward_scratch(rows, int(H))) * 4);
  cuda::launch_rms_norm_backward(static_cast<const bf16*>(x), static_cast<const bf16*>(dy),
                                 static_cast<bf16*>(dx), rows, 1, int(H), H,
                                 static_cast<const float*>(w.raw()), eps, dw, true,
                                 static_cast<float*>(scratch_.rms_bwd.get()), stream_);
}

void CudaBackend::head_rms_norm_backward(const void* qkv_pre, int64_t rows,
                                         const AttentionShape& sh, const Tensor& qw,
                                         const Tensor& kw, float eps, void* dqkv, float* dqw,
                                         float* dkw) {
  RCC_CHECK(!sh.interleaved, "CUDA head_rms_norm_backward: the blocked qkv layout only");
  check_vector(qw, sh.hd, "q_norm weight");
  check_vector(kw, sh.hd, "k_norm weight");
  use();
  grow(scratch_.rms_bwd, size_t(cuda::rms_norm_backward_scratch(rows * sh.heads, int(sh.hd))) * 4);
  const bf16* x = static_cast<const bf16*>(qkv_pre);
  bf16* d = static_cast<bf16*>(dqkv);
  float* rinv = static_cast<float*>(scratch_.rms_bwd.get());
  // In place on dqkv: the gradient w.r.t. the norms' output becomes that w.r.t. their input.
  cuda::launch_rms_norm_backward(x, d, d, rows, int(sh.heads), int(sh.hd), sh.qkv_width(),
                                 static_cast<const float*>(qw.raw()), eps, dqw, false, rinv,
                                 stream_);
  const int64_t k = sh.q_width();
  cuda::launch_rms_norm_backward(x + k, d + k, d + k, rows, int(sh.kv_heads), int(sh.hd),
                                 sh.qkv_width(), static_cast<const float*>(kw.raw()), eps, dkw,
                                 false, rinv, stream_);
}

void CudaBackend::swiglu_backward(const void* gu, const void* dy, void* dgu, int64_t rows,
                                  int64_t I, float* db) {
  use();
  cuda::launch_swiglu_backward(static_cast<const bf16*>(gu), static_cast<const bf16*>(dy),
                               static_cast<bf16*>(dgu), rows, I, stream_);
  if (db) bias_backward(dgu, rows, 2 * I, db, nullptr);
}

CudaBackend::RowPositions CudaBackend::row_positions(
    std::span<const std::pair<int64_t, int64_t>> seqs) {
  use();
  for (PositionCache& c : scratch_.pos)
    if (c.dev.get() && std::equal(seqs.begin(), seqs.end(), c.seqs.begin(), c.seqs.end()))
      return c.rp;
  int64_t rows = 0, longest = 0;
  for (const auto& [begin, n] : seqs) {
    RCC_CHECK(begin >= 0 && n >= 0, "CUDA: sequence (", begin, ", ", n, ") of a batch");
    if (n == 0) continue;
    rows = std::max(rows, begin + n);
    longest = std::max(longest, n);
  }
  RCC_CHECK(rows < (int64_t(1) << 31), "CUDA: a batch of ", rows, " rows");
  std::vector<int32_t> pos(size_t(rows), -1);
  for (const auto& [begin, n] : seqs)
    for (int64_t i = 0; i < n; ++i) {
      RCC_CHECK(pos[size_t(begin + i)] < 0, "CUDA: sequences of a batch overlap at row ",
                begin + i);
      pos[size_t(begin + i)] = int32_t(i);
    }
  PositionCache& c = scratch_.pos[pos_next_];
  pos_next_ = (pos_next_ + 1) % int(std::size(scratch_.pos));
  c.seqs.assign(seqs.begin(), seqs.end());
  c.rp = RowPositions{};
  if (rows > 0) {
    grow(c.dev, size_t(rows) * 4);
    copy_to_device(c.dev.get(), pos.data(), size_t(rows) * 4);
  }
  c.rp = RowPositions{static_cast<const int32_t*>(c.dev.get()), rows, longest};
  return c.rp;
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
// the longest first) when it applies; otherwise one run_attention per sequence. q, k and v are
// read in place from the fused qkv rows (row stride 3·heads·hd, head stride 3·hd).
void CudaBackend::self_attention(const void* qkv, std::span<const std::pair<int64_t, int64_t>> seqs,
                                 const AttentionShape& sh, void* out, float* lse) {
  check_trainable(sh, seqs);
  if (!sh.plain()) {  // the GPT-NeoX path on the regrouped rows
    const int64_t rows = batch_of(seqs).rows;
    if (rows == 0) return;
    use();
    self_attention(expand_qkv(qkv, rows, sh), seqs, AttentionShape{sh.heads, sh.heads, sh.hd}, out,
                   lse);
    return;
  }
  const int64_t heads = sh.heads, hd = sh.hd;
  const Batch batch = batch_of(seqs);
  const std::vector<cuda::SeqRows>& s = batch.seqs;
  if (s.empty()) return;
  use();
  const int64_t H = heads * hd;
  auto args = [&](int64_t begin, int64_t rows) {
    const void* q = act_at(*this, qkv, begin * 3 * H);
    cuda::AttentionArgs a =
        attention_args(q, 3 * H, act_at(*this, q, hd), act_at(*this, q, 2 * hd), 3 * H, heads, hd,
                       rows, 0, act_at(*this, out, begin * H), H);
    a.q_head = a.kv_head = 3 * hd;
    a.lse = lse ? lse + begin * heads : nullptr;
    return a;
  };
  const cuda::AttentionArgs a = args(0, batch.rows);
  if (cuda::flash_supported(a)) {
    cuda::launch_flash_attention_tiles(
        a, cuda::causal_tiles(s.data(), int64_t(s.size()), cuda::kFlashTileRows, true, false),
        stream_);
    return;
  }
  for (const cuda::SeqRows& r : s) run_attention(args(r.begin, r.n));
}

// The inverse rotary of dq and dk folds into the attention backward where its kernels can take
// it (the wgmma path); otherwise one rotary launch follows.
void CudaBackend::self_attention_backward(const void* qkv, const void* out, const float* lse,
                                          const void* dout,
                                          std::span<const std::pair<int64_t, int64_t>> seqs,
                                          const AttentionShape& sh, const Rope& rope, void* dqkv) {
  check_trainable(sh, seqs);
  if (!sh.plain()) {
    // On the regrouped rows, then the repeats' gradients summed back into dqkv (rotation and
    // sum commute: the inverse rotation of each repeat's dk is that of their sum).
    const int64_t rows = batch_of(seqs).rows;
    if (rows == 0) return;
    use();
    const void* e = expand_qkv(qkv, rows, sh);
    grow(scratch_.gqa_dexp, act_bytes(rows * 3 * sh.q_width()));
    self_attention_backward(e, out, lse, dout, seqs, AttentionShape{sh.heads, sh.heads, sh.hd},
                            rope, scratch_.gqa_dexp.get());
    cuda::launch_reduce_dqkv(static_cast<const bf16*>(scratch_.gqa_dexp.get()),
                             static_cast<bf16*>(dqkv), rows, int(sh.heads), int(sh.kv_heads),
                             int(sh.hd), stream_);
    return;
  }
  const int64_t heads = sh.heads, hd = sh.hd, rot = rope.dims;
  const Batch batch = batch_of(seqs);
  const std::vector<cuda::SeqRows>& s = batch.seqs;
  if (s.empty()) return;
  use();
  const int64_t rows = batch.rows;
  const size_t ws = cuda::attention_backward_workspace(rows, int(heads), int(hd));
  if (ws) grow(scratch_.attn_bwd, ws);
  const bf16* q = static_cast<const bf16*>(qkv);
  bf16* dq = static_cast<bf16*>(dqkv);
  const cuda::QkvLayout fused{3 * heads * hd, 3 * hd};
  RCC_CHECK(rot >= 0 && rot <= hd, "CUDA self_attention_backward: rotary dims ", rot,
            " exceed head_dim ", hd);
  cuda::RotaryGrad fold;
  if (rot >= 2) {
    const RowPositions rp = row_positions(seqs);
    fold = {rp.pos, rope_table(rp.longest, rope), int(rot / 2)};
  }
  const bool folded = cuda::launch_attention_backward(
      q, q + hd, q + 2 * hd, fused, static_cast<const bf16*>(out), lse,
      static_cast<const bf16*>(dout), s.data(), int64_t(s.size()), rows, int(heads), int(hd), dq,
      dq + hd, dq + 2 * hd, scratch_.attn_bwd.get(), stream_, rot >= 2 ? &fold : nullptr);
  if (rot >= 2 && !folded) rotary_qkv(dqkv, seqs, sh, rope, /*inverse=*/true);
}

void CudaBackend::linear_backward(const void* x, int64_t rows, const Tensor& W, const void* dy,
                                  void* dx, bool accumulate_dx, float* dW, float* db) {
  check_matrix(W, "linear weight");
  if (rows <= 0) return;
  use();
  const int64_t N = W.dim(0), K = W.dim(1);
  const bf16* w = static_cast<const bf16*>(W.raw());
  const bf16* g = static_cast<const bf16*>(dy);
  // Column-major views of the row-major buffers (gemm.h): a row-major [r, c] matrix is a
  // column-major [c, r] one with leading dimension c.
  // dx^T [K, rows] = W^T [K, N] · dy^T [N, rows]
  using Vary = cuda::Gemm::Vary;
  if (dx)
    gemm_->run_general(false, false, K, rows, N, w, K, g, N, dx, K, false, accumulate_dx, Vary::N);
  // dW^T [K, N] += x^T [K, rows] · dy [rows, N]   (dy^T stored [N, rows], used transposed)
  if (dW)
    gemm_->run_general(false, true, K, N, rows, static_cast<const bf16*>(x), K, g, N, dW, K, true,
                       true, Vary::K);
  if (db) bias_sums(g, rows, N, db, nullptr);
}

void* CudaBackend::column_workspace(int64_t rows, int64_t width) {
  DeviceBuffer& b = scratch_.col;
  const size_t cap = b.bytes();
  grow(b, cuda::column_sums_workspace(rows, width));
  if (b.bytes() != cap)  // a new allocation: its counters start at zero
    RCC_CUDA_CHECK(cudaMemsetAsync(b.get(), 0, b.bytes(), stream_));
  return b.get();
}

void CudaBackend::bias_backward(const void* dy, int64_t rows, int64_t N, float* db, float* db2) {
  if (rows <= 0 || N <= 0) return;
  use();
  bias_sums(static_cast<const bf16*>(dy), rows, N, db, db2);
}

// db (and db2) [N] += dy^T [N, rows] · 1 [rows]. Fused: the column-sum kernel (row chunks of 128
// across the grid, then a fixed-order reduction into both outputs: dy read once); else
// (RCC_CUDA_FUSED=0) a matrix-vector product per output, the ones vector's leading dimension the
// bucket's so that it stays fixed within it.
void CudaBackend::bias_sums(const bf16* dy, int64_t rows, int64_t N, float* db, float* db2) {
  if (!db) std::swap(db, db2);
  if (!db) return;
  if (fused_) {
    cuda::launch_column_sums(dy, rows, N, db, db2, column_workspace(rows, N), stream_);
    return;
  }
  const int64_t ld1 = cuda::Gemm::plan_rows(rows);
  for (float* d : {db, db2})
    if (d)
      gemm_->run_general(false, false, N, 1, rows, dy, N, ones(ld1), ld1, d, N, true, true,
                         cuda::Gemm::Vary::K);
}

void CudaBackend::gelu_backward(const void* pre, const void* dy, void* dx, int64_t rows,
                                int64_t width, float* db) {
  if (rows <= 0 || width <= 0) return;
  use();
  const bf16 *p = static_cast<const bf16*>(pre), *g = static_cast<const bf16*>(dy);
  bf16* d = static_cast<bf16*>(dx);
  if (db && fused_) {  // the column sums taken while dx is written
    cuda::launch_gelu_backward_bias(p, g, d, rows, width, db, column_workspace(rows, width),
                                    stream_);
    return;
  }
  cuda::launch_gelu_backward(p, g, d, rows * width, stream_);
  if (db) bias_sums(d, rows, width, db, nullptr);
}

void CudaBackend::layer_norm_backward(const void* x, int64_t rows, int64_t H, const Tensor& w,
                                      float eps, const void* dy, void* dx, float* dw, float* db) {
  check_vector(w, H, "layer_norm weight");
  if (rows <= 0) return;
  use();
  const size_t ws = cuda::layer_norm_backward_workspace(rows, H);
  if (ws) grow(scratch_.ln_bwd, ws);
  cuda::launch_layer_norm_backward(
      static_cast<const bf16*>(x), rows, H, static_cast<const float*>(w.raw()), eps,
      static_cast<const bf16*>(dy), static_cast<bf16*>(dx), dw, db, scratch_.ln_bwd.get(), stream_);
}

void CudaBackend::layer_norm_pair_backward(const void* x, int64_t rows, int64_t H, const Tensor& w1,
                                           const Tensor& w2, float eps, const void* dy1,
                                           const void* dy2, void* dx, float* dw1, float* db1,
                                           float* dw2, float* db2) {
  if (!fused_) {
    Backend::layer_norm_pair_backward(x, rows, H, w1, w2, eps, dy1, dy2, dx, dw1, db1, dw2, db2);
    return;
  }
  check_vector(w1, H, "layer_norm weight");
  check_vector(w2, H, "layer_norm weight");
  if (rows <= 0) return;
  use();
  const size_t ws = cuda::layer_norm_backward_workspace(rows, H, 2);
  if (ws) grow(scratch_.ln_bwd, ws);
  cuda::launch_layer_norm_pair_backward(
      static_cast<const bf16*>(x), rows, H, static_cast<const float*>(w1.raw()),
      static_cast<const float*>(w2.raw()), eps, static_cast<const bf16*>(dy1),
      static_cast<const bf16*>(dy2), static_cast<bf16*>(dx), dw1, db1, dw2, db2,
      scratch_.ln_bwd.get(), stream_);
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
  const int64_t first[2] = {0, rows};
  return cross_entropy_parts(logits, V, first, targets_host, weights_host, dlogits, scale)[0];
}

// One upload of targets | weights for every part, one launch over all rows (each row's loss is
// its own: the same values as a launch per part), one read-back of the per-row losses, summed
// per part in row order as the CPU sums.
std::vector<double> CudaBackend::cross_entropy_parts(const float* logits, int64_t V,
                                                     std::span<const int64_t> first,
                                                     const int32_t* targets_host,
                                                     const float* weights_host, void* dlogits,
                                                     float scale) {
  check_parts(first);
  std::vector<double> out(first.size() - 1, 0.0);
  const int64_t rows = first.back();
  if (rows <= 0) return out;
  for (int64_t r = 0; r < rows; ++r)
    RCC_CHECK(targets_host[r] >= 0 && targets_host[r] < V, "cross_entropy: target ",
              targets_host[r], " of row ", r, " outside [0, ", V, ")");
  use();
  const size_t tb = size_t(rows) * 4, bytes = 2 * tb + size_t(rows) * 4;
  grow(scratch_.ce, bytes);
  char* base = static_cast<char*>(scratch_.ce.get());
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
  for (size_t k = 0; k + 1 < first.size(); ++k)
    for (int64_t r = first[k]; r < first[k + 1]; ++r) out[k] += double(l[size_t(r)]);
  return out;
}

double CudaBackend::sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  use();
  const size_t ws = cuda::sum_squares_workspace(n) + 8;
  grow(scratch_.ss, ws);
  double* out = static_cast<double*>(scratch_.ss.get());
  cuda::launch_sum_squares(x, n, static_cast<char*>(scratch_.ss.get()) + 8, out, stream_);
  double r = 0;
  copy_to_host(&r, out, 8);
  return r;
}

void CudaBackend::scale_f32(float* x, int64_t n, float s) {
  use();
  cuda::launch_scale_f32(x, n, s, stream_);
}

// The chunk table ([tensors | chunks] in one device buffer) is built and uploaded only when the
// tensor list changes (a training run's layout and compute copies never move), because
// rebuilding its tens of thousands of chunks costs host time at every step with the GPU idle
// (bench/results/training_gpu.md).
void CudaBackend::adamw_tensors(float* p, const float* g, float* m, float* v,
                                std::span<const AdamWTensor> tensors, float decay, double beta1,
                                double beta2, double eps, float step_size, float bc2_sqrt,
                                float grad_scale) {
  auto same = [](const AdamWTensor& a, const AdamWTensor& b) {
    return a.offset == b.offset && a.numel == b.numel && a.decayed == b.decayed &&
           a.compute == b.compute && a.compute_matrix == b.compute_matrix;
  };
  if (!std::equal(tensors.begin(), tensors.end(), adamw_key_.begin(), adamw_key_.end(), same)) {
    std::vector<cuda::AdamWTensorDev> tdev;
    std::vector<cuda::AdamWChunk> chunks;
    tdev.reserve(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const AdamWTensor& t = tensors[i];
      RCC_CHECK(t.offset >= 0 && t.numel >= 0, "CUDA adamw_tensors: tensor at ", t.offset, " of ",
                t.numel);
      tdev.push_back({t.compute, t.decayed ? 1 : 0, t.compute ? (t.compute_matrix ? 1 : 2) : 0});
      for (int64_t s = 0; s < t.numel; s += cuda::kAdamWChunk)
        chunks.push_back(
            {t.offset + s, s, int32_t(std::min(cuda::kAdamWChunk, t.numel - s)), int32_t(i)});
    }
    use();
    adamw_key_.clear();  // until the upload below has been enqueued
    adamw_tensor_bytes_ = (tdev.size() * sizeof(cuda::AdamWTensorDev) + 15) / 16 * 16;
    adamw_chunks_ = int64_t(chunks.size());
    std::vector<char> table(adamw_tensor_bytes_ + chunks.size() * sizeof(cuda::AdamWChunk), 0);
    std::memcpy(table.data(), tdev.data(), tdev.size() * sizeof(cuda::AdamWTensorDev));
    std::memcpy(table.data() + adamw_tensor_bytes_, chunks.data(),
                chunks.size() * sizeof(cuda::AdamWChunk));
    if (!table.empty()) {
      grow(scratch_.adamw_table, table.size());
      copy_to_device(scratch_.adamw_table.get(), table.data(), table.size());
    }
    adamw_key_.assign(tensors.begin(), tensors.end());
  }
  if (adamw_chunks_ == 0) return;
  use();
  const char* base = static_cast<const char*>(scratch_.adamw_table.get());
  cuda::launch_adamw_tensors(
      p, g, m, v, reinterpret_cast<const cuda::AdamWChunk*>(base + adamw_tensor_bytes_),
      adamw_chunks_, reinterpret_cast<const cuda::AdamWTensorDev*>(base), decay, float(1.0 - beta1),
      float(beta2), float(1.0 - beta2), float(eps), step_size, bc2_sqrt, grad_scale, stream_);
}

void CudaBackend::master_to_matrix(const float* src, int64_t n, void* dst) {
  use();
  cuda::launch_convert_to_bf16(DType::F32, src, static_cast<bf16*>(dst), n, stream_);
}

}  // namespace rcc::cuda
