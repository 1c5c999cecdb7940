// CudaBackend's KV-cache ops (backend/backend.h): writing new keys/values into caches and
// attention against them, per sequence and for a whole decoding batch (decode jobs over shared
// prefixes and own rows, attention/decode.cu).
#include <algorithm>
#include <vector>

#include "backend/kv_cache.h"
#include "cuda/backend_impl.h"
#include "cuda/kernels.h"

namespace rcc {
namespace cuda {

namespace {
cuda::QkvSegment qkv_segment(KVCache& cache, int64_t layer, int64_t row_begin, int64_t pos0) {
  cuda::QkvSegment g;
  g.row_begin = row_begin;
  g.pos0 = pos0;
  g.cache_row0 = pos0 - cache.prefix_length();
  g.k = cache.k_data(layer);
  g.v = cache.v_data(layer);
  if (cache.dtype() == DType::I8) {
    g.k_scale = cache.k_scale(layer);
    g.v_scale = cache.v_scale(layer);
  }
  return g;
}
}  // namespace

// The launch arguments every qkv_to_cache launch shares (the shape and the rotary embedding).
cuda::QkvToCacheArgs CudaBackend::qkv_args(const AttentionShape& s, const Rope& rope) {
  RCC_CHECK(rope.dims >= 0 && rope.dims <= s.hd, "CUDA qkv_to_cache: rotary dims ", rope.dims,
            " exceed head_dim ", s.hd);
  cuda::QkvToCacheArgs a;
  a.heads = int(s.heads);
  a.kv_heads = int(s.kv_heads);
  a.interleaved = s.interleaved;
  a.hd = int(s.hd);
  a.rot = int(rope.dims);
  a.inv_freq = inv_freq(rope);
  return a;
}

void CudaBackend::qkv_to_cache(void* qkv, int64_t rows, const AttentionShape& s, const Rope& rope,
                               int64_t pos0, KVCache& cache, int64_t layer, void* q_out) {
  if (rows <= 0) return;
  check_cache(cache, s.kv_heads, s.hd, pos0 + rows, layer);
  RCC_CHECK(pos0 >= cache.prefix_length(), "CUDA qkv_to_cache: position ", pos0,
            " lies in the cache's shared prefix");
  use();
  cuda::QkvToCacheArgs a = qkv_args(s, rope);
  a.qkv = static_cast<const bf16*>(qkv);
  a.rows = rows;
  a.q_out = static_cast<bf16*>(q_out);
  a.int8 = cache.dtype() == DType::I8;
  a.segments = 1;
  a.seg[0] = qkv_segment(cache, layer, 0, pos0);
  cuda::launch_qkv_to_cache(a, stream_);
}

void CudaBackend::qkv_to_cache_batch(void* qkv, std::span<const SeqSlice> seqs,
                                     const AttentionShape& sh, const Rope& rope, int64_t layer,
                                     void* q_out) {
  use();
  // Launches of up to kQkvMaxSegments sequences each (consecutive, non-empty).
  for (size_t first = 0; first < seqs.size();) {
    cuda::QkvToCacheArgs a = qkv_args(sh, rope);
    int64_t row0 = -1, rows = 0;
    size_t i = first;
    for (; i < seqs.size() && a.segments < cuda::kQkvMaxSegments; ++i) {
      const SeqSlice& s = seqs[i];
      if (s.count <= 0) continue;
      KVCache& c = *s.cache;
      check_cache(c, sh.kv_heads, sh.hd, c.length() + s.count, layer);
      const bool i8 = c.dtype() == DType::I8;
      if (a.segments == 0) {
        row0 = s.begin;
        a.int8 = i8;
      } else if (i8 != a.int8 || s.begin != row0 + rows) {
        break;  // another element type, or not adjacent: the next launch
      }
      a.seg[a.segments++] = qkv_segment(c, layer, s.begin - row0, c.length());
      rows += s.count;
    }
    first = i;
    if (a.segments == 0) continue;
    a.qkv = static_cast<const bf16*>(qkv) + row0 * sh.qkv_width();
    a.q_out = static_cast<bf16*>(q_out) + row0 * sh.q_width();
    a.rows = rows;
    cuda::launch_qkv_to_cache(a, stream_);
  }
}

void CudaBackend::attention(const void* q, int64_t rows, int64_t past, const KVCache& cache,
                            int64_t layer, const AttentionShape& sh, void* out) {
  if (rows <= 0) return;
  check_cache(cache, sh.kv_heads, sh.hd, past + rows, layer);
  check_window(sh, past + rows);
  RCC_CHECK(past >= 0, "CUDA attention: negative past ", past);
  const int64_t hd = sh.hd, W = cache.width(), Q = sh.q_width();
  if (cache.prefix() && (hd == 64 || hd == 128 || hd == 256) && W % 8 == 0 && Q % 8 == 0) {
    // Two key segments: the batched decoding path (decode jobs).
    RCC_CHECK(past == cache.length(), "CUDA attention: a continued cache is read from its end");
    SeqSlice s{0, rows, const_cast<KVCache*>(&cache)};
    attention_batch(q, {&s, 1}, layer, sh, out);
    return;
  }
  use();
  const bool i8 = cache.dtype() == DType::I8;
  const void* k = cache.k_data(layer);
  const void* v = cache.v_data(layer);
  const float* ks = i8 ? cache.k_scale(layer) : nullptr;
  const float* vs = i8 ? cache.v_scale(layer) : nullptr;
  DeviceBuffer joined;
  if (cache.prefix()) {
    // Head dims without a decode kernel (small test models): the prefix and the own rows copied
    // into one contiguous cache of past + rows positions for the ordinary kernels.
    const KVCache& p = *cache.prefix();
    const int64_t P = cache.prefix_length(), n = past + rows;
    const size_t row = size_t(W) * dtype_size(cache.dtype()), srow = size_t(cache.heads()) * 4;
    joined = DeviceBuffer(*this, size_t(n) * (2 * row + (i8 ? 2 * srow : 0)));
    char* kj = static_cast<char*>(joined.get());
    char* vj = kj + size_t(n) * row;
    auto join = [&](char* dst, const void* a, const void* b, size_t width) {
      copy_device(dst, a, size_t(P) * width);
      copy_device(dst + size_t(P) * width, b, size_t(n - P) * width);
    };
    join(kj, p.k_data(layer), cache.k_data(layer), row);
    join(vj, p.v_data(layer), cache.v_data(layer), row);
    k = kj;
    v = vj;
    if (i8) {
      char* ksj = vj + size_t(n) * row;
      char* vsj = ksj + size_t(n) * srow;
      join(ksj, p.k_scale(layer), cache.k_scale(layer), srow);
      join(vsj, p.v_scale(layer), cache.v_scale(layer), srow);
      ks = reinterpret_cast<const float*>(ksj);
      vs = reinterpret_cast<const float*>(vsj);
    }
  }
  cuda::AttentionArgs a = attention_args(q, Q, k, v, W, sh.heads, hd, rows, past, out, Q);
  a.group = int(sh.group());
  a.int8 = i8;
  a.k_scale = ks;
  a.v_scale = vs;
  run_attention(a);
}

// Decoding rows of every sequence as DecodeJobs in as few launches as the parameter space allows:
// rows continuing the same prefix share one job per 4 rows over the prefix (read once for them),
// and each sequence has jobs over its own keys; one combine merges every row's slots. Sequences
// with many new rows (a prompt) and no prefix take the ordinary per-sequence path (flash).
void CudaBackend::attention_batch(const void* q, std::span<const SeqSlice> seqs, int64_t layer,
                                  const AttentionShape& sh, void* out) {
  if (seqs.empty()) return;
  // q and out rows are [Q] wide (query heads), cache rows [KV] (key/value heads).
  const int64_t H = sh.q_width(), KV = sh.kv_width(), heads = sh.heads, hd = sh.hd;
  constexpr int64_t kLongRows = 64;  // beyond this, a plain cache's rows go through flash
  // The decode kernel's head dims and alignment; other shapes take the per-sequence path
  // (attention(), which joins a prefix and its own rows into one temporary cache).
  const bool jobs_ok = (hd == 64 || hd == 128 || hd == 256) && H % 8 == 0 && KV % 8 == 0;
  std::vector<const SeqSlice*> plain_long;
  std::vector<cuda::DecodeJob> jobs;
  // Prefix groups: (prefix, its length) -> rows (batch row, position).
  std::vector<
      std::pair<std::pair<const KVCache*, int64_t>, std::vector<std::pair<int64_t, int64_t>>>>
      groups;
  int64_t rows_total = 0;
  for (const SeqSlice& s : seqs) rows_total = std::max(rows_total, s.begin + s.count);
  bool int8 = false;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SeqSlice& s = seqs[i];
    const KVCache& c = *s.cache;
    if (s.count <= 0) continue;
    check_cache(c, sh.kv_heads, hd, c.length() + s.count, layer);
    check_window(sh, c.length() + s.count);
    if (i == 0) int8 = c.dtype() == DType::I8;
    RCC_CHECK((c.dtype() == DType::I8) == int8,
              "CUDA attention: int8 and bf16 caches in one batch");
    if ((!c.prefix() && s.count > kLongRows) || !jobs_ok) {
      plain_long.push_back(&s);
      continue;
    }
    if (c.prefix()) {
      const std::pair<const KVCache*, int64_t> key{c.prefix(), c.prefix_length()};
      auto g =
          std::find_if(groups.begin(), groups.end(), [&](const auto& e) { return e.first == key; });
      if (g == groups.end()) {
        groups.push_back({key, {}});
        g = groups.end() - 1;
      }
      for (int64_t r = 0; r < s.count; ++r) g->second.push_back({s.begin + r, c.length() + r});
    }
    // Its own keys (positions from prefix_length(), the new rows' included).
    for (int64_t r0 = 0; r0 < s.count; r0 += cuda::kDecodeMaxRows) {
      cuda::DecodeJob j;
      j.rows = int(std::min<int64_t>(cuda::kDecodeMaxRows, s.count - r0));
      for (int r = 0; r < j.rows; ++r) {
        j.row[r] = int32_t(s.begin + r0 + r);
        j.pos[r] = c.length() + r0 + r;
      }
      j.k = c.k_data(layer);
      j.v = c.v_data(layer);
      if (int8) {
        j.k_scale = c.k_scale(layer);
        j.v_scale = c.v_scale(layer);
      }
      j.key_pos0 = c.prefix_length();
      j.n_keys = c.own_length() + r0 + j.rows;
      cuda::plan_decode_job(j, int(heads), num_sms_);
      jobs.push_back(j);
    }
  }
  // Slot layout per row: the prefix job's splits first, then the own job's.
  std::vector<int> prefix_slots(size_t(rows_total), 0);
  std::vector<cuda::DecodeJob> prefix_jobs;
  for (const auto& [key, rows] : groups) {
    const KVCache& p = *key.first;
    for (size_t r0 = 0; r0 < rows.size(); r0 += cuda::kDecodeMaxRows) {
      cuda::DecodeJob j;
      j.rows = int(std::min<size_t>(cuda::kDecodeMaxRows, rows.size() - r0));
      for (int r = 0; r < j.rows; ++r) {
        j.row[r] = int32_t(rows[r0 + size_t(r)].first);
        j.pos[r] = rows[r0 + size_t(r)].second;
      }
      j.k = p.k_data(layer);
      j.v = p.v_data(layer);
      if (int8) {
        j.k_scale = p.k_scale(layer);
        j.v_scale = p.v_scale(layer);
      }
      j.key_pos0 = 0;
      j.n_keys = key.second;
      cuda::plan_decode_job(j, int(heads), num_sms_);
      for (int r = 0; r < j.rows; ++r) prefix_slots[size_t(j.row[r])] = j.splits;
      prefix_jobs.push_back(j);
    }
  }
  int slots = 1;
  for (cuda::DecodeJob& j : jobs) {
    j.slot0 = prefix_slots[size_t(j.row[0])];
    slots = std::max(slots, j.slot0 + j.splits);
  }
  jobs.insert(jobs.end(), prefix_jobs.begin(), prefix_jobs.end());
  use();
  if (!jobs.empty()) {
    cuda::AttentionArgs a =
        attention_args(q, H, nullptr, nullptr, KV, heads, hd, rows_total, 0, out, H);
    a.group = int(sh.group());
    a.int8 = int8;
    const size_t bytes = size_t(rows_total) * size_t(heads) * size_t(slots) * size_t(hd + 1) * 4;
    grow(scratch_.attn, bytes);
    const cuda::Partials part =
        cuda::partials_in(scratch_.attn.get(), rows_total, int(heads), slots, int(hd));
    // Every slot starts empty (NaN log-sum-exp): rows with fewer slots leave theirs so.
    RCC_CUDA_CHECK(
        cudaMemsetAsync(part.lse, 0xFF, size_t(rows_total) * heads * slots * 4, stream_));
    for (size_t first = 0; first < jobs.size(); first += cuda::kDecodeMaxJobs) {
      cuda::DecodeJobs chunk;
      chunk.n = int(std::min<size_t>(cuda::kDecodeMaxJobs, jobs.size() - first));
      std::copy(jobs.begin() + std::ptrdiff_t(first),
                jobs.begin() + std::ptrdiff_t(first) + chunk.n, chunk.j);
      cuda::launch_decode_jobs(a, chunk, slots, part, stream_);
    }
    cuda::launch_attention_combine(a, slots, part, stream_);
  }
  // Long prompts of plain caches (and every sequence of other head dims) after the combine,
  // which writes every row of the batch.
  for (const SeqSlice* s : plain_long)
    attention(act_at(*this, q, s->begin * H), s->count, s->cache->length(), *s->cache, layer, sh,
              act_at(*this, out, s->begin * H));
}

cuda::AttentionArgs CudaBackend::attention_args(const void* q, int64_t q_stride, const void* k,
                                                const void* v, int64_t kv_stride, int64_t heads,
                                                int64_t hd, int64_t rows, int64_t past, void* out,
                                                int64_t out_stride) {
  cuda::AttentionArgs a;
  a.q = static_cast<const bf16*>(q);
  a.q_stride = q_stride;
  a.k = k;
  a.v = v;
  a.kv_stride = kv_stride;
  a.heads = int(heads);
  a.hd = int(hd);
  a.q_head = a.kv_head = hd;  // heads side by side (the fused qkv sets 3·hd)
  a.rows = rows;
  a.past = past;
  a.out = static_cast<bf16*>(out);
  a.out_stride = out_stride;
  a.scale_log2 = float(1.0 / std::sqrt(double(a.hd)) * 1.4426950408889634);
  return a;
}

void CudaBackend::run_attention(const cuda::AttentionArgs& a) {
  const cuda::AttentionPlan plan = cuda::plan_attention(a, num_sms_);
  if (plan.workspace_bytes) grow(scratch_.attn, plan.workspace_bytes);
  cuda::run_attention(a, plan, scratch_.attn.get(), stream_);
}

}  // namespace cuda
}  // namespace rcc
