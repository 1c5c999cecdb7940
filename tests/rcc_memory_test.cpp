// Memory semantics beyond the reference fixtures: window alignment rules, aligned append equal to
// recomputing everything, chunked/reused decoder caches equal to one-pass prefill, and memory and
// decoder-cache files (round trip, refusal of corrupt, truncated, foreign and hostile files).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <random>

#include "core/hash.h"
#include "io/container.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"
#include "rcc/memory_file.h"
#include "rcc/rcc_init.h"
#include "rcc/windows.h"
#include "test_util.h"

namespace rcc {
namespace {

// A small random RCC model with W = 64, R = 8 so that multi-window cases stay fast.
RCCModel& small_model(uint64_t seed = 1) {
  static std::map<uint64_t, std::unique_ptr<RCCModel>> cache;
  auto& m = cache[seed];
  if (!m) {
    ModelConfig cfg;
    cfg.vocab_size = 97, cfg.hidden_size = 32, cfg.num_layers = 2, cfg.num_heads = 4;
    cfg.intermediate_size = 64, cfg.rotary_pct = 0.5;
    RCCSettings s;
    s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
    m = std::make_unique<RCCModel>(init_random_rcc(cfg, s, DType::F32, seed));
  }
  return *m;
}

constexpr char kMemoryMagic[8] = {'R', 'C', 'C', 'M', 'E', 'M', 0, 0};
constexpr char kCacheMagic[8] = {'R', 'C', 'C', 'K', 'V', 0, 0, 0};

// Expects `f` to throw an rcc::Error whose message contains every one of `needles`.
template <class F>
void expect_error_naming(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "accepted a hostile file; expected an error naming " << needles.back();
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

std::vector<int32_t> random_ids(size_t n, uint64_t seed, int32_t vocab = 97) {
  std::mt19937 g(static_cast<uint32_t>(seed));
  std::vector<int32_t> v(n);
  for (auto& x : v) x = int32_t(g() % uint32_t(vocab));
  return v;
}

TEST(Windows, AlignedSlotPositions) {
  EXPECT_EQ(aligned_slot_positions(64, 32), (std::vector<int64_t>{31, 63}));
  EXPECT_EQ(aligned_slot_positions(70, 32), (std::vector<int64_t>{31, 63, 69}));
  EXPECT_EQ(aligned_slot_positions(5, 32), (std::vector<int64_t>{4}));
  EXPECT_EQ(aligned_slot_positions(1, 1), (std::vector<int64_t>{0}));
}

TEST(Windows, CompatPadding) {
  std::vector<int32_t> ids = {1, 2, 3, 4, 5};
  // n <= W: tile to W = 8: [1..5] once, preceded by the last 3 tokens of that tiling.
  EXPECT_EQ(compat_padded(ids, 8), (std::vector<int32_t>{3, 4, 5, 1, 2, 3, 4, 5}));
  // n divides W: pure tiling (the reference multiplies ids here; the spec tiles).
  EXPECT_EQ(compat_padded({7, 8}, 4), (std::vector<int32_t>{7, 8, 7, 8}));
  EXPECT_EQ(compat_padded({9}, 3), (std::vector<int32_t>{9, 9, 9}));
  // n > W, not a multiple: prepend the last W - n mod W tokens.
  EXPECT_EQ(compat_padded(ids, 4), (std::vector<int32_t>{3, 4, 5, 1, 2, 3, 4, 5}));
  // n a multiple of W above W: a whole copy of the last window.
  EXPECT_EQ(compat_padded({1, 2, 3, 4}, 2), (std::vector<int32_t>{3, 4, 1, 2, 3, 4}));
  EXPECT_THROW(compat_padded({}, 4), Error);
  auto w = make_windows(ids, 4, 2, WindowMode::Aligned);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1].ids, (std::vector<int32_t>{5}));
  EXPECT_EQ(w[1].slot_positions, (std::vector<int64_t>{0}));
}

TEST(Compressor, AppendEqualsRecompute) {
  // Exact equality: the same windows are encoded by the same code; only which windows differs.
  RCCModel& m = small_model();
  Compressor c(m);
  const auto all = random_ids(300, 5);
  for (size_t split : {1u, 8u, 37u, 64u, 128u, 200u, 299u}) {
    std::vector<int32_t> a(all.begin(), all.begin() + int64_t(split)),
        b(all.begin() + int64_t(split), all.end());
    Memory inc = c.compress(a, WindowMode::Aligned, DType::F32);
    c.append(inc, b);
    Memory full = c.compress(all, WindowMode::Aligned, DType::F32);
    EXPECT_EQ(inc.data, full.data) << "split " << split;
    EXPECT_EQ(inc.token_count, full.token_count);
    EXPECT_EQ(inc.source_hash, full.source_hash);
    EXPECT_EQ(inc.tail_ids, full.tail_ids);
    EXPECT_EQ(inc.tail_slots, full.tail_slots);
  }
  // Several appends in a row, and an empty one.
  Memory inc = c.compress({all.begin(), all.begin() + 10}, WindowMode::Aligned, DType::BF16);
  for (size_t b = 10; b < all.size(); b += 45)
    c.append(inc, {all.begin() + int64_t(b), all.begin() + int64_t(std::min(all.size(), b + 45))});
  c.append(inc, {});
  EXPECT_EQ(inc.data, c.compress(all, WindowMode::Aligned, DType::BF16).data);
}

TEST(Compressor, ManyDocumentsTogetherEqualEachAlone) {
  // Three new documents (both modes, different lengths) and one append, their windows in shared
  // encoder passes of 3, against each compressed alone (one window per pass). Windows in a pass
  // are independent sequences; only the matrix products' row count differs (64 rows use the
  // row-independent kernel, 192 BLAS), so slots agree to 1e-5 relative, not bit for bit.
  RCCModel& m = small_model();
  Compressor alone(m), together(m);
  together.set_batch_windows(3);
  const auto a = random_ids(300, 11), b = random_ids(70, 12), c = random_ids(190, 13),
             more = random_ids(100, 14);
  Memory base = alone.compress(random_ids(90, 15), WindowMode::Aligned, DType::F32);
  Memory appended = base;
  std::vector<Memory> out(3);
  std::vector<CompressJob> jobs(4);
  const std::vector<std::pair<const std::vector<int32_t>*, WindowMode>> docs = {
      {&a, WindowMode::Aligned}, {&b, WindowMode::Compat}, {&c, WindowMode::Aligned}};
  std::vector<int64_t> windows_seen(4, 0);
  for (size_t i = 0; i < 3; ++i) {
    jobs[i].memory = &out[i];
    jobs[i].ids = *docs[i].first;
    jobs[i].mode = docs[i].second;
    jobs[i].memory_dtype = DType::F32;
    jobs[i].on_window = [&, i](int64_t w, int64_t, const float*, int64_t) {
      EXPECT_EQ(w, windows_seen[i]++) << "document " << i << "'s windows out of order";
    };
  }
  jobs[3].memory = &appended;
  jobs[3].ids = more;
  jobs[3].append = true;
  together.compress_many(jobs);
  for (size_t i = 0; i < 3; ++i) {
    const Memory want = alone.compress(*docs[i].first, docs[i].second, DType::F32);
    ASSERT_EQ(out[i].slots(), want.slots()) << "document " << i;
    std::vector<float> x(out[i].data.size() / 4), y(x.size());
    std::memcpy(x.data(), out[i].data.data(), out[i].data.size());
    std::memcpy(y.data(), want.data.data(), want.data.size());
    EXPECT_LE(test::norm_rel_error(x, y), 1e-5) << "document " << i;
    EXPECT_EQ(out[i].tail_ids, want.tail_ids);
    EXPECT_EQ(out[i].source_hash, want.source_hash);
    EXPECT_GT(windows_seen[i], 0);
  }
  const int64_t dropped = alone.append(base, more);
  EXPECT_EQ(jobs[3].dropped, dropped);
  EXPECT_EQ(appended.slots(), base.slots());
  EXPECT_EQ(appended.token_count, base.token_count);
  EXPECT_EQ(appended.tail_ids, base.tail_ids);
}

TEST(Compressor, AppendRefusesCompatAndForeignMemories) {
  Compressor c(small_model());
  Memory compat = c.compress(random_ids(100, 1), WindowMode::Compat);
  EXPECT_THROW(c.append(compat, {1, 2}), Error);
  Memory other = Compressor(small_model(2)).compress(random_ids(100, 1), WindowMode::Aligned);
  EXPECT_THROW(c.append(other, {1, 2}), Error);
}

TEST(Compressor, AlignedKeepsTheLastToken) {
  // The question at the end of a context always ends a slot (§2, aligned).
  RCCModel& m = small_model();
  auto ids = random_ids(70, 3);
  Memory mem = Compressor(m).compress(ids, WindowMode::Aligned, DType::F32);
  EXPECT_EQ(mem.slots(), 64 / 8 + 1);  // 8 slots of the full window + 1 at position 5 of the tail
  EXPECT_EQ(mem.tail_ids.size(), 6u);
}

TEST(DecoderMemory, ChunkedPrefillEqualsOnePass) {
  // Window-by-window (streamed) prefill vs all slots at once: same keys/values up to summation
  // order inside attention (1e-5 relative), same greedy ids.
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(400, 9), WindowMode::Aligned, DType::F32);
  DecoderMemory one(m), chunked(m);
  one.extend(mem, 0, mem.slots());
  for (int64_t b = 0; b < mem.slots(); b += 8)
    chunked.extend(mem, b, std::min<int64_t>(8, mem.slots() - b));
  ASSERT_EQ(one.length(), chunked.length());
  const int64_t n = one.length() * one.cache().width();
  for (int64_t l = 0; l < one.cache().layers(); ++l) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst = std::max(worst, double(std::fabs(one.cache().k(l)[i] - chunked.cache().k(l)[i])));
      worst = std::max(worst, double(std::fabs(one.cache().v(l)[i] - chunked.cache().v(l)[i])));
      scale = std::max(scale, double(std::fabs(one.cache().k(l)[i])));
    }
    EXPECT_LE(worst / scale, 1e-5) << "layer " << l;
  }
  GenerateParams gp;
  gp.max_new_tokens = 12;
  EXPECT_EQ(one.generate({1, 2, 3}, gp).ids, chunked.generate({1, 2, 3}, gp).ids);
}

TEST(DecoderMemory, StreamedCompressionEqualsMemoryThenPrefill) {
  // `rcc ask --context` streams each window's slots straight into the decoder prefill (push/flush,
  // buffered into chunks) without keeping a memory. The streamed slots are exactly those of a
  // memory of the model's memory dtype (bf16 here: rounded as a stored memory is, spec §3.3), so
  // the same keys/values up to the summation order of differently chunked attention (1e-5
  // relative), and the same greedy ids.
  RCCModel& m = small_model();
  ASSERT_EQ(m.settings.memory_dtype, DType::BF16);
  const auto ids = random_ids(1000, 21);  // 16 windows of 64, the last one partial
  Compressor comp(m);
  Memory mem = comp.compress(ids, WindowMode::Aligned);
  ASSERT_EQ(mem.dtype, DType::BF16);
  std::vector<float> stored(size_t(mem.slots() * 3 * 32)), streamed_slots;
  mem.slots_f32(0, mem.slots(), stored.data());
  DecoderMemory whole(m), streamed(m);
  whole.extend(mem, 0, mem.slots());
  streamed.reserve(Compressor::slot_count(ids, 64, 8, WindowMode::Aligned) + 32);
  streamed.set_chunk(7);  // windows of 8 slots cross chunk boundaries; some go straight through
  int64_t windows = 0;
  const int64_t produced =
      comp.stream(ids, WindowMode::Aligned, [&](int64_t, int64_t, const void* slots, int64_t n) {
        const float* f = static_cast<const float*>(slots);
        streamed_slots.insert(streamed_slots.end(), f, f + n * 3 * 32);
        streamed.push(slots, n);
        ++windows;
      });
  streamed.flush();
  EXPECT_EQ(windows, 16);
  EXPECT_EQ(produced, mem.slots());
  EXPECT_EQ(streamed_slots, stored);  // bit-identical: the same encoder pass, the same rounding
  ASSERT_EQ(streamed.length(), whole.length());
  const int64_t n = whole.length() * whole.cache().width();
  for (int64_t l = 0; l < whole.cache().layers(); ++l) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst = std::max(worst, double(std::fabs(whole.cache().k(l)[i] - streamed.cache().k(l)[i])));
      worst = std::max(worst, double(std::fabs(whole.cache().v(l)[i] - streamed.cache().v(l)[i])));
      scale = std::max(scale, double(std::fabs(whole.cache().k(l)[i])));
    }
    EXPECT_LE(worst / scale, 1e-5) << "layer " << l;
  }
  GenerateParams gp;
  gp.max_new_tokens = 12;
  EXPECT_EQ(whole.generate({1, 2, 3}, gp).ids, streamed.generate({1, 2, 3}, gp).ids);
  // Windows encoded in batches (one forward pass of several sequences) give the same slots up to
  // f32 summation order (OpenBLAS takes other kernel/edge paths for other row counts; elementwise
  // relative error with a 1e-2 floor, 1e-4): compared unrounded (an f32 memory dtype), since a
  // value next to a bf16 rounding boundary could land one bf16 step away.
  m.settings.memory_dtype = DType::F32;
  Compressor batched(m);
  batched.set_batch_windows(3);
  std::vector<float> a, b;
  comp.stream(ids, WindowMode::Aligned, [&](int64_t, int64_t, const void* s, int64_t k) {
    const float* f = static_cast<const float*>(s);
    a.insert(a.end(), f, f + k * 3 * 32);
  });
  batched.stream(ids, WindowMode::Aligned, [&](int64_t, int64_t, const void* s, int64_t k) {
    const float* f = static_cast<const float*>(s);
    b.insert(b.end(), f, f + k * 3 * 32);
  });
  ASSERT_EQ(a.size(), size_t(mem.slots() * 3 * 32));
  EXPECT_LE(test::max_rel_error(b, a), 1e-4);
  m.settings.memory_dtype = DType::BF16;
  // Generating with slots still pending is refused.
  DecoderMemory pending(m);
  comp.stream(ids, WindowMode::Aligned,
              [&](int64_t, int64_t, const void* slots, int64_t k) { pending.push(slots, k); });
  EXPECT_THROW(pending.generate({1}, gp), Error);
}

TEST(DecoderMemory, ReuseEqualsRecompute) {
  // Answering several prompts from one prefix = answering each from a fresh prefill, exactly.
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(150, 4), WindowMode::Compat);
  DecoderMemory shared(m);
  shared.extend(mem, 0, mem.slots());
  GenerateParams gp;
  gp.max_new_tokens = 10;
  std::vector<std::vector<int32_t>> prompts = {{5}, {6, 7, 8}, {9, 10}};
  std::vector<std::vector<int32_t>> first;
  for (const auto& p : prompts) first.push_back(shared.generate(p, gp).ids);
  for (size_t i = 0; i < prompts.size(); ++i) {
    DecoderMemory fresh(m);
    fresh.extend(mem, 0, mem.slots());
    EXPECT_EQ(fresh.generate(prompts[i], gp).ids, first[i]);
  }
  auto batch = shared.generate_batch(prompts, gp);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(batch[i].ids, first[i]);
  EXPECT_EQ(shared.length(), mem.slots());
}

TEST(MemoryFile, RoundTripAndRefusals) {
  test::TempDir d;
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(150, 4), WindowMode::Aligned);
  const std::string path = d.file("x.rccm");
  save_memory(path, mem);
  Memory back = load_memory_for(path, m.encoder_fingerprint, 64, 8);
  EXPECT_EQ(back.data, mem.data);
  EXPECT_EQ(back.tail_ids, mem.tail_ids);
  EXPECT_EQ(back.tail_slots, mem.tail_slots);
  EXPECT_EQ(back.source_hash, mem.source_hash);
  EXPECT_EQ(back.mode, WindowMode::Aligned);
  EXPECT_EQ(back.dtype, DType::BF16);
  // Another encoder, other W/R.
  EXPECT_THROW(load_memory_for(path, small_model(2).encoder_fingerprint, 64, 8), Error);
  EXPECT_THROW(load_memory_for(path, m.encoder_fingerprint, 128, 8), Error);
  const std::string bytes = test::read_file(path);
  auto expect_refused = [&](const std::string& content, const std::string& needle) {
    test::write_file(d.file("bad.rccm"), content);
    try {
      load_memory(d.file("bad.rccm"));
      ADD_FAILURE() << "accepted a bad file (" << needle << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_refused(bytes.substr(0, bytes.size() - 1), "");
  expect_refused(bytes.substr(0, 30), "");
  expect_refused(bytes.substr(0, 3), "truncated");
  for (size_t pos : {size_t(40), bytes.size() / 2, bytes.size() - 9}) {
    std::string bad = bytes;
    bad[pos] ^= 0x10;
    expect_refused(bad, "checksum");
  }
  std::string magic = bytes;
  magic[0] = 'X';
  expect_refused(magic, "bad magic");
  expect_refused("", "truncated");
  // The file is written atomically: a failed write leaves no file.
  EXPECT_THROW(save_memory(d.file("no/such/dir/x.rccm"), mem), Error);
}

TEST(DecoderCacheFile, RoundTripEqualsRecompute) {
  test::TempDir d;
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(200, 8), WindowMode::Aligned);
  DecoderMemory dm(m);
  dm.extend(mem, 0, mem.slots());
  const uint64_t id = memory_identity(mem), fp = decoder_fingerprint(m);
  save_decoder_cache(d.file("x.rcckv"), dm, id, fp);
  DecoderMemory loaded(m);
  load_decoder_cache(d.file("x.rcckv"), loaded, id, fp);
  GenerateParams gp;
  gp.max_new_tokens = 10;
  EXPECT_EQ(loaded.generate({3, 4}, gp).ids, dm.generate({3, 4}, gp).ids);
  DecoderMemory other(m);
  EXPECT_THROW(load_decoder_cache(d.file("x.rcckv"), other, id + 1, fp), Error);
  DecoderMemory other2(m);
  EXPECT_THROW(
      load_decoder_cache(d.file("x.rcckv"), other2, id, decoder_fingerprint(small_model(2))),
      Error);
}

TEST(MemoryFile, RefusesSlotCountsThatOverflowOrExceedThePayload) {
  // Issue "hostile files": the payload size slots x levels x hidden x dtype size, computed from
  // header fields, wrapped modulo 2^64, so `rcc inspect` accepted a memory claiming 2^40 slots of
  // [4096, 2^20] f32 (2^74 bytes, 0 modulo 2^64) with an empty payload. The product must be checked
  // and the claim refused, naming the file and the field.
  test::TempDir d;
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(150, 4), WindowMode::Aligned);
  save_memory(d.file("x.rccm"), mem);
  const std::string bad = d.file("bad.rccm");
  test::rewrite_container(
      d.file("x.rccm"), bad, kMemoryMagic,
      [](nlohmann::json& h) {
        h["slots"] = int64_t(1) << 40;
        h["levels"] = 4096;
        h["hidden"] = 1 << 20;
        h["dtype"] = "F32";
        h["token_count"] = int64_t(1) << 43;  // 2^40 slots of whole windows: otherwise consistent
        h["tail_ids"] = nlohmann::json::array();
        h["tail_slots"] = 0;
      },
      std::string());
  expect_error_naming([&] { load_memory(bad); }, {bad, "'slots'"});
  // Not overflowing, but more slots than the payload holds: refused before any allocation.
  test::rewrite_container(d.file("x.rccm"), bad, kMemoryMagic,
                          [&](nlohmann::json& h) { h["slots"] = mem.slots() + 1; });
  expect_error_naming([&] { load_memory(bad); }, {bad, "'slots'"});
}

TEST(MemoryFile, RefusesTailsThatDisagreeWithTheirIds) {
  // Issue "hostile files": a memory whose tail slots disagree with its tail ids was accepted, and
  // `rcc compress --append` then dropped the wrong number of slots silently (spec §2.4, §2.7: the
  // partial last window of m ids has exactly the slots aligned_slot_positions(m, R) gives, and
  // holds the last token_count mod W ids).
  test::TempDir d;
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(150, 4), WindowMode::Aligned);
  ASSERT_EQ(mem.tail_ids.size(), 22u);  // W 64, R 8: 150 = 2·64 + 22, slots at 7, 15 and 21
  ASSERT_EQ(mem.tail_slots, 3);
  save_memory(d.file("x.rccm"), mem);
  const std::string bad = d.file("bad.rccm");
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& field,
                     const std::optional<std::string>& payload = std::nullopt) {
    test::rewrite_container(d.file("x.rccm"), bad, kMemoryMagic, edit, payload);
    expect_error_naming([&] { load_memory(bad); }, {bad, field});
  };
  refused([](nlohmann::json& h) { h["tail_slots"] = 1; }, "'tail_slots'");
  refused([](nlohmann::json& h) { h["tail_slots"] = 4; }, "'tail_slots'");
  refused([](nlohmann::json& h) { h["tail_ids"].erase(h["tail_ids"].size() - 1); }, "'tail_ids'");
  refused([](nlohmann::json& h) { h["token_count"] = 151; }, "'tail_ids'");
  // One slot fewer than 150 tokens make (with a payload to match).
  const std::string bytes(reinterpret_cast<const char*>(mem.data.data()),
                          mem.data.size() - size_t(mem.slot_bytes()));
  refused([&](nlohmann::json& h) { h["slots"] = mem.slots() - 1; }, "'slots'", bytes);
  // Compat memories have no tail.
  Memory compat = Compressor(m).compress(random_ids(150, 4), WindowMode::Compat);
  save_memory(d.file("x.rccm"), compat);
  refused(
      [](nlohmann::json& h) {
        h["tail_ids"] = {1, 2};
        h["tail_slots"] = 1;
      },
      "'tail_ids'");
}

TEST(MemoryFile, UnknownModeNamesTheFileAndField) {
  // Issue "hostile files": "unknown window mode" did not name the memory file it came from.
  test::TempDir d;
  Memory mem = Compressor(small_model()).compress(random_ids(100, 4), WindowMode::Aligned);
  save_memory(d.file("x.rccm"), mem);
  const std::string bad = d.file("bad.rccm");
  test::rewrite_container(d.file("x.rccm"), bad, kMemoryMagic,
                          [](nlohmann::json& h) { h["mode"] = "sideways"; });
  expect_error_naming([&] { load_memory(bad); }, {bad, "'mode'", "sideways"});
}

TEST(DecoderCacheFile, RefusesPositionCountsThatOverflowOrExceedThePayload) {
  // Issue "hostile files": layers x 2 x positions x width x 4, from the header, wrapped modulo
  // 2^64, so a cache claiming 2^62 positions passed the payload check, reserved a cache of a
  // wrapped size and the prefill wrote out of bounds (SIGSEGV). It must be refused before the cache
  // is touched, naming the file and the field.
  test::TempDir d;
  RCCModel& m = small_model();
  Memory mem = Compressor(m).compress(random_ids(200, 8), WindowMode::Aligned);
  DecoderMemory dm(m);
  dm.extend(mem, 0, mem.slots());
  const uint64_t id = memory_identity(mem), fp = decoder_fingerprint(m);
  save_decoder_cache(d.file("x.rcckv"), dm, id, fp);
  const std::string bad = d.file("bad.rcckv");
  auto refused = [&](int64_t positions, const std::optional<std::string>& payload) {
    test::rewrite_container(
        d.file("x.rcckv"), bad, kCacheMagic, [&](nlohmann::json& h) { h["positions"] = positions; },
        payload);
    DecoderMemory loaded(m);
    expect_error_naming([&] { load_decoder_cache(bad, loaded, id, fp); }, {bad, "'positions'"});
    EXPECT_EQ(loaded.length(), 0);
  };
  const int64_t P = mem.slots(), big = int64_t(1) << 62;
  refused(big, std::string());     // 2 layers x 2 x 2^62 x 32 x 4 bytes: 0 modulo 2^64
  refused(big + P, std::nullopt);  // wraps to exactly the real payload's size
  refused(P + 1, std::nullopt);    // no overflow, more than the payload holds
  refused(int64_t(1) << 40, std::nullopt);
}

TEST(Hash, Xxh64KnownValues) {
  // Published XXH64 test vectors (seed 0).
  EXPECT_EQ(xxh64("", 0), 0xEF46DB3751D8E999ull);
  EXPECT_EQ(xxh64("a", 1), 0xD24EC4F1A98C6E5Bull);
  EXPECT_EQ(xxh64("abc", 3), 0x44BC2CF5AD770999ull);
  std::string s(1000, 'x');
  Xxh64 h;
  for (size_t i = 0; i < s.size(); i += 7)
    h.update(s.data() + i, std::min<size_t>(7, s.size() - i));
  EXPECT_EQ(h.digest(), xxh64(s.data(), s.size()));
  std::vector<int32_t> a = {1, 2, 3}, b = {4, 5};
  std::vector<int32_t> ab = {1, 2, 3, 4, 5};
  EXPECT_EQ(token_hash_extend(token_hash(a), b.data(), b.size()), token_hash(ab));
}

}  // namespace
}  // namespace rcc
