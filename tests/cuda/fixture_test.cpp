// The CUDA backend against the same references as the CPU (Hugging Face fixtures of
// tests/reference/make_{gptneox,rcc}_fixtures.py) and against the CPU backend. Built only with CUDA
// and run on a GPU by scripts/gpu-check.sh (not registered with ctest: CI has no GPU).
//
// Tolerances. CUDA keeps activations, weights and the KV cache in bf16 (8-bit mantissa: one
// rounding is <= 2^-9 = 0.2% relative) and accumulates in f32; the fixtures are f32 end to end. A
// tiny model adds a handful of roundings per layer, so logits and slots land around 0.3-1% of
// their largest magnitude; we allow 3e-2 (norm: max |cuda - ref| / max |ref|). A wrong index,
// mask or scale gives errors of order 1.
// Greedy ids: bf16 noise can swap near-tied candidates, so instead of comparing free-running
// generations (one early swap changes the rest) the reference's greedy continuation is fed back
// (teacher forcing) and at every step the reference's id must be CUDA's argmax or within the logit
// tolerance of it.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "backend/backend.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/generate.h"
#include "model/init.h"
#include "model/load.h"
#include "rcc/compressor.h"
#include "rcc/decoder_memory.h"
#include "rcc/kv_file.h"
#include "rcc/memory_file.h"
#include "rcc/rcc_init.h"

namespace rcc {
namespace {

using nlohmann::json;
constexpr double kTol = 3e-2;

Backend& cuda() {
  return backend_for("cuda");
}

std::vector<int32_t> ids_of(const Tensor& t) {
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// logits: [rows, V] for the sequence prompt + want[0..n-2]; row prompt_len - 1 + t predicts
// want[t].
void expect_teacher_forced(const std::vector<float>& logits, int64_t V, size_t prompt_len,
                           const std::vector<int32_t>& want, const std::string& what) {
  float scale = 0;
  for (float x : logits) scale = std::max(scale, std::fabs(x));
  for (size_t t = 0; t < want.size(); ++t) {
    const float* row = logits.data() + (prompt_len - 1 + t) * size_t(V);
    const int64_t best = std::max_element(row, row + V) - row;
    const float gap = row[best] - row[want[t]];
    EXPECT_LE(gap, kTol * scale) << what << ": step " << t << " argmax " << best << " vs reference "
                                 << want[t];
  }
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b, size_t bn) {
  a.insert(a.end(), b.begin(), b.begin() + int64_t(bn));
  return a;
}

// The same RCC model (its host weights) rebuilt on the CUDA backend.
RCCModel on_cuda(const RCCModel& cpu) {
  const ModelConfig& cfg = cpu.encoder.config();
  RCCModel gpu{Transformer(cfg, cpu.encoder.weights(), cuda()),
               Transformer(cpu.decoder.config(), cpu.decoder.weights(), cuda()),
               cpu.embed_proj,
               cpu.layer_proj,
               cpu.settings,
               cpu.encoder_fingerprint};
  gpu.prepare();
  return gpu;
}

class CudaModels : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaModels, LogitsGreedyAndCache) {
  const std::string dir = test::fixture(GetParam());
  json expected = json::parse(test::read_file(dir + "/expected.json"));
  const auto prompt = expected["prompt_ids"].get<std::vector<int32_t>>();
  const auto greedy = expected["greedy_ids"].get<std::vector<int32_t>>();
  Transformer model = load_model(dir, cuda());
  const int64_t V = model.config().vocab_size;
  KVCache cache = model.new_cache();
  std::vector<float> logits = model.forward_logits(prompt, cache);
  Tensor want = SafetensorsFile::open(dir + "/expected.safetensors").get("logits");
  const double err = test::norm_rel_error(logits, want.to_vector());
  // Models differ in how far one bf16 rounding moves their logits (SwiGLU's product of two
  // projections amplifies it): the CPU on bf16-rounded weights measures that for this fixture
  // (e_w); rounding the activations adds about as much again, so the bound is max(kTol, 3 e_w).
  const ModelConfig& cfg = model.config();
  ModelWeights w = ModelWeights::load(Checkpoint::open(dir), cfg);
  w.visit("", [](const std::string&, Tensor& t) {
    if (t.ndim() == 2) t = t.to(DType::BF16);
  });
  KVCache cpu_cache(cfg.num_layers, cfg.kv_heads(), cfg.head_dim());
  const double e_w =
      test::norm_rel_error(Transformer(cfg, w).forward_logits(prompt, cpu_cache), want.to_vector());
  EXPECT_LE(err, std::max(kTol, 3 * e_w)) << GetParam();
  std::printf("[ cuda ] %s logits norm-rel error %.2e (bf16 weights alone, on the CPU: %.2e)\n",
              GetParam().c_str(), err, e_w);

  KVCache c2 = model.new_cache();
  expect_teacher_forced(model.forward_logits(concat(prompt, greedy, greedy.size() - 1), c2), V,
                        prompt.size(), greedy, GetParam());

  // Cached decoding (single rows through the decode attention) vs one full pass.
  KVCache inc = model.new_cache();
  std::vector<int32_t> seq(prompt.begin(), prompt.begin() + 5);
  model.forward_logits(seq, inc);
  for (int step = 0; step < 8; ++step) {
    const int32_t next = prompt[size_t(5 + step)];
    std::vector<float> one = model.forward_logits({next}, inc);
    seq.push_back(next);
    KVCache fresh = model.new_cache();
    std::vector<float> full = model.forward_logits(seq, fresh);
    EXPECT_LE(test::norm_rel_error(one, std::vector<float>(full.end() - V, full.end())), kTol)
        << "step " << step;
  }
  // Free-running greedy generation runs and produces in-vocabulary ids.
  GenerateParams gp;
  gp.max_new_tokens = 16;
  GenerateResult r = generate(model, prompt, gp);
  EXPECT_EQ(r.ids.size(), 16u);
}

// The Llama-family fixtures: Mistral's window (8) is shorter than its 40-token prompt, which the
// CUDA kernels refuse (CudaLlama below covers windows that do not bite).
INSTANTIATE_TEST_SUITE_P(Fixtures, CudaModels,
                         ::testing::Values("gptneox/parallel-f32", "gptneox/serial-bf16",
                                           "gptneox/sharded-f32", "llama/llama3-gqa",
                                           "llama/llama-bias-bf16", "llama/qwen2-mqa",
                                           "llama/qwen3-headdim"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-' || ch == '/') ch = '_';
                           return n;
                         });

// Mistral's window (8) shorter than the prompt (40): the CUDA kernels have no window yet and say
// so, rather than compute full attention.
TEST(CudaModelsWindow, ABitingWindowIsRefused) {
  const std::string dir = test::fixture("llama/mistral-window");
  json expected = json::parse(test::read_file(dir + "/expected.json"));
  const auto prompt = expected["prompt_ids"].get<std::vector<int32_t>>();
  Transformer model = load_model(dir, cuda());
  KVCache cache = model.new_cache();
  try {
    model.forward_logits(prompt, cache);
    ADD_FAILURE() << "a sliding window of 8 over 40 positions was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sliding window"), std::string::npos) << e.what();
  }
}

// Llama-family shapes the CUDA fast paths take (head_dim 64 and 128: flash attention for prompts,
// decode jobs for single rows and for rows continuing a shared prefix) against the CPU on the
// same bf16 weights, at the bf16 tolerance above. The CPU side is the one checked against Hugging
// Face (model_reference_test.cpp).
ModelConfig llama_shape(const std::string& type, int64_t heads, int64_t kv, int64_t hd) {
  ModelConfig c;
  c.model_type = type;
  c.vocab_size = 1000;
  c.hidden_size = 256;
  c.num_layers = 2;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.head_dim_override = hd;
  c.intermediate_size = 512;
  c.rotary_pct = 1.0;
  c.rotary_base = 1e6;
  c.norm_eps = 1e-6;
  c.rms_norm = c.gated_mlp = true;
  c.use_parallel_residual = false;
  c.qkv_bias = type == "qwen2";
  c.out_bias = c.mlp_bias = false;
  c.qk_norm = type == "qwen3";
  return c;
}

TEST(CudaLlama, PromptDecodeAndSharedPrefixAgainstCpu) {
  std::vector<ModelConfig> shapes = {
      llama_shape("qwen3", 4, 2, 64), llama_shape("llama", 2, 1, 128),
      llama_shape("qwen2", 4, 4, 64), llama_shape("mistral", 4, 2, 64)};
  shapes[1].rope_scaling.type = RopeScaling::Type::Llama3;
  shapes[1].rope_scaling.factor = 8;
  shapes[1].rope_scaling.original_max_position_embeddings = 64;
  shapes[3].sliding_window = 4096;  // longer than everything below: the kernels accept it
  for (const ModelConfig& cfg : shapes) {
    SCOPED_TRACE(cfg.model_type + " heads " + std::to_string(cfg.num_heads) + "/" +
                 std::to_string(cfg.kv_heads()) + " hd " + std::to_string(cfg.head_dim()));
    ModelWeights w = init_random_weights(cfg, DType::BF16, 7, 0.05f);
    Transformer cpu(cfg, w), gpu(cfg, w, cuda());
    const int64_t V = cfg.vocab_size;
    std::vector<int32_t> prompt;
    for (int i = 0; i < 150; ++i) prompt.push_back(int32_t((i * 37 + 11) % V));
    KVCache cc = cpu.new_cache(), gc = gpu.new_cache();
    const std::vector<float> lc = cpu.forward_logits(prompt, cc),
                             lg = gpu.forward_logits(prompt, gc);
    EXPECT_LE(test::norm_rel_error(lg, lc), kTol) << "prompt";
    std::printf("[ cuda ] %s heads %lld/%lld hd %lld: prompt logits vs CPU %.2e\n",
                cfg.model_type.c_str(), (long long)cfg.num_heads, (long long)cfg.kv_heads(),
                (long long)cfg.head_dim(), test::norm_rel_error(lg, lc));
    for (int step = 0; step < 4; ++step) {  // single rows
      const int32_t next = int32_t((step * 101 + 5) % V);
      EXPECT_LE(
          test::norm_rel_error(gpu.forward_logits({next}, gc), cpu.forward_logits({next}, cc)),
          kTol)
          << "decode step " << step;
    }
    // Two sequences continuing one shared prefix (the RCC decoder's memory), decoded as a batch.
    for (Transformer* m : {&cpu, &gpu}) {
      KVCache prefix = m->new_cache();
      m->forward_logits(std::vector<int32_t>(prompt.begin(), prompt.begin() + 100), prefix);
      KVCache a = KVCache::continuing(prefix), b = KVCache::continuing(prefix);
      const int64_t H = cfg.hidden_size;
      DeviceBuffer x(m->backend(), m->backend().act_bytes(2 * H));
      const int32_t ids[2] = {3, 9};
      m->embed(ids, 2, x.get());
      std::vector<SeqSlice> seqs = {{0, 1, &a}, {1, 1, &b}};
      m->forward(x.get(), 2, seqs);
      std::vector<float> out(size_t(2 * V));
      m->logits(x.get(), 2, out.data());
      static std::vector<float> cpu_out;
      if (m == &cpu)
        cpu_out = out;
      else
        EXPECT_LE(test::norm_rel_error(out, cpu_out), kTol) << "shared prefix";
      if (m != &cpu)
        std::printf("[ cuda ] %s shared-prefix batch logits vs CPU %.2e\n", cfg.model_type.c_str(),
                    test::norm_rel_error(out, cpu_out));
    }
  }
}

struct Param {
  std::string ckpt, c;
};

class CudaRCC : public ::testing::TestWithParam<Param> {};

RCCModel& rcc_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<RCCModel>> cache;
  auto& m = cache[name];
  if (!m) m = std::make_unique<RCCModel>(RCCModel::load(test::fixture("rcc/" + name), cuda()));
  return *m;
}

TEST_P(CudaRCC, SlotsLogitsAndGreedy) {
  const Param& p = GetParam();
  const std::string base = test::fixture("rcc/" + p.ckpt + "-expected/" + p.c);
  SafetensorsFile expected = SafetensorsFile::open(base + ".safetensors");
  json meta = json::parse(test::read_file(base + ".json"));
  RCCModel& m = rcc_model(p.ckpt);
  const int64_t V = m.decoder.config().vocab_size;
  Compressor comp(m);
  const std::vector<int32_t> ctx = ids_of(expected.get("context_ids"));
  Memory mem = comp.compress(ctx, WindowMode::Compat, DType::F32);
  const double slot_err =
      test::norm_rel_error(mem.as_tensor().to_vector(), expected.get("slots").to_vector());
  EXPECT_LE(slot_err, kTol);

  // Decoder on the reference's own (bf16) memory: memory rows and prompt logits.
  Tensor slots = expected.get("slots").to(DType::BF16).to(DType::F32);
  const int64_t P = slots.dim(0), H = m.hidden();
  DecoderMemory dm(m);
  std::vector<float> hidden(static_cast<size_t>(P * H));
  dm.extend(slots.f32(), P, hidden.data());
  DeviceBuffer hdev(cuda(), cuda().act_bytes(P * H));
  cuda().upload_f32(hidden.data(), P * H, hdev.get());
  std::vector<float> logits(static_cast<size_t>(P * V));
  m.decoder.logits(hdev.get(), P, logits.data());
  const std::vector<int32_t> prompt = ids_of(expected.get("prompt_ids"));
  std::vector<float> pl = dm.prompt_logits(prompt);
  logits.insert(logits.end(), pl.begin(), pl.end());
  const double logit_err = test::norm_rel_error(logits, expected.get("logits_bf16mem").to_vector());
  EXPECT_LE(logit_err, kTol);
  std::printf("[ cuda ] %s/%s slots %.2e logits %.2e\n", p.ckpt.c_str(), p.c.c_str(), slot_err,
              logit_err);
  const auto greedy = meta["greedy_ids_bf16mem"].get<std::vector<int32_t>>();
  expect_teacher_forced(dm.prompt_logits(concat(prompt, greedy, greedy.size() - 1)), V,
                        prompt.size(), greedy, p.ckpt + "/" + p.c);

  // Streaming (windows straight into the prefill) == the memory path, on the device.
  DecoderMemory streamed(m), whole(m);
  streamed.set_chunk(3);
  comp.stream(ctx, WindowMode::Compat,
              [&](int64_t, int64_t, const void* s, int64_t n) { streamed.push(s, n); });
  streamed.flush();
  whole.extend(mem, 0, mem.slots());
  ASSERT_EQ(streamed.length(), whole.length());
  EXPECT_LE(test::norm_rel_error(streamed.prompt_logits(prompt), whole.prompt_logits(prompt)),
            kTol);

  // 8-bit memory-prefix KV: within a wider bf16+int8 tolerance (int8 step = absmax/127 per
  // position and head: 0.4% per element) of the bf16 cache.
  DecoderMemory q8(m, /*eight_bit=*/true);
  q8.extend(mem, 0, mem.slots());
  EXPECT_LE(test::norm_rel_error(q8.prompt_logits(prompt), whole.prompt_logits(prompt)), 5e-2);
}

std::vector<Param> all_params() {
  std::vector<Param> v;
  for (const char* ck : {"rcc-f32", "rcc-bf16-split"})
    for (const char* c : {"short", "equal", "longer", "multiple"}) v.push_back({ck, c});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaRCC, ::testing::ValuesIn(all_params()),
                         [](const auto& info) {
                           std::string n = info.param.ckpt + "_" + info.param.c;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(CudaVsCpu, RandomRCCModelWholePipeline) {
  // A random model with several windows (W 64, R 8, head_dim 16, partial rotary): slots, decoder
  // prompt logits and greedy ids (teacher-forced) of CUDA vs the CPU backend.
  ModelConfig cfg;
  cfg.vocab_size = 211, cfg.hidden_size = 64, cfg.num_layers = 3, cfg.num_heads = 4;
  cfg.intermediate_size = 256, cfg.rotary_pct = 0.5;
  RCCSettings s;
  s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
  RCCModel cpu = init_random_rcc(cfg, s, DType::F32, 5);
  RCCModel gpu = on_cuda(cpu);
  std::vector<int32_t> ids(700);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 13) % 211);
  Memory mc = Compressor(cpu).compress(ids, WindowMode::Aligned, DType::F32);
  Memory mg = Compressor(gpu).compress(ids, WindowMode::Aligned, DType::F32);
  ASSERT_EQ(mc.slots(), mg.slots());
  EXPECT_LE(test::norm_rel_error(mg.as_tensor().to_vector(), mc.as_tensor().to_vector()), kTol);
  DecoderMemory dc(cpu), dg(gpu);
  dc.extend(mc, 0, mc.slots());
  dg.extend(mc, 0, mc.slots());
  const std::vector<int32_t> prompt = {5, 6, 7, 8};
  EXPECT_LE(test::norm_rel_error(dg.prompt_logits(prompt), dc.prompt_logits(prompt)), kTol);
  GenerateParams gp;
  gp.max_new_tokens = 12;
  const auto want = dc.generate(prompt, gp).ids;
  expect_teacher_forced(dg.prompt_logits(concat(prompt, want, want.size() - 1)), cfg.vocab_size,
                        prompt.size(), want, "random model");
  // Saved decoder caches work from the device too (staged through f32; bf16 -> f32 -> bf16 is
  // exact, so the restored cache gives the same logits bit for bit).
  test::TempDir tmp;
  const std::string kv = tmp.file("m.rcckv");
  save_decoder_cache(kv, dg, memory_identity(mc), decoder_fingerprint(gpu));
  DecoderMemory restored(gpu);
  load_decoder_cache(kv, restored, memory_identity(mc), decoder_fingerprint(gpu));
  EXPECT_EQ(restored.prompt_logits(prompt), dg.prompt_logits(prompt));
  EXPECT_EQ(restored.generate(prompt, gp).ids, dg.generate(prompt, gp).ids);
  // 8-bit caches refuse to be saved, with an error rather than garbage.
  DecoderMemory q8(gpu, /*eight_bit=*/true);
  q8.extend(mc, 0, mc.slots());
  EXPECT_THROW(
      save_decoder_cache(tmp.file("q8.rcckv"), q8, memory_identity(mc), decoder_fingerprint(gpu)),
      Error);
}

TEST(CudaVsCpu, BatchedDecodingOnASharedMemoryPrefix) {
  // Head dim 64 (the decode-job kernels): five answers continuing one decoder memory, shared, in
  // one batch on CUDA — a prompt pass of 1..70 rows each, then two one-row steps — against each
  // answer alone on the CPU: logits of every row within kTol (bf16 activations); and the greedy
  // ids of a batch on CUDA are greedy under the logits of each answer alone (teacher-forced).
  ModelConfig cfg;
  cfg.vocab_size = 307, cfg.hidden_size = 256, cfg.num_layers = 2, cfg.num_heads = 4;
  cfg.intermediate_size = 512, cfg.rotary_pct = 0.25;
  RCCSettings s;
  s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
  RCCModel cpu = init_random_rcc(cfg, s, DType::F32, 9);
  RCCModel gpu = on_cuda(cpu);
  std::vector<int32_t> ids(2000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 13) % 307);
  Memory mem = Compressor(cpu).compress(ids, WindowMode::Aligned, DType::F32);
  DecoderMemory dc(cpu), dg(gpu);
  dc.extend(mem, 0, mem.slots());
  dg.extend(mem, 0, mem.slots());
  const int64_t V = cfg.vocab_size, H = cfg.hidden_size;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t n : {1u, 3u, 7u, 40u, 70u}) {
    std::vector<int32_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = int32_t((n * 31 + i * 17) % 307);
    prompts.push_back(p);
  }
  // Rows fed per pass: the prompts, then two tokens each.
  auto run = [&](const RCCModel& m, DecoderMemory& dm, std::vector<size_t> which) {
    std::vector<KVCache> caches;
    for (size_t k = 0; k < which.size(); ++k) caches.push_back(dm.answer_cache());
    std::vector<std::vector<float>> logits(which.size());
    for (int pass = 0; pass < 3; ++pass) {
      std::vector<SeqSlice> seqs;
      std::vector<int32_t> feed;
      for (size_t k = 0; k < which.size(); ++k) {
        const std::vector<int32_t> f =
            pass == 0 ? prompts[which[k]] : std::vector<int32_t>{int32_t(7 * pass + which[k])};
        seqs.push_back({int64_t(feed.size()), int64_t(f.size()), &caches[k]});
        feed.insert(feed.end(), f.begin(), f.end());
      }
      const int64_t rows = int64_t(feed.size());
      Backend& be = m.decoder.backend();
      DeviceBuffer x(be, be.act_bytes(rows * H));
      m.decoder.embed(feed.data(), rows, x.get());
      m.decoder.forward(x.get(), rows, seqs);
      std::vector<float> l(size_t(rows * V));
      m.decoder.logits(x.get(), rows, l.data());
      for (size_t k = 0; k < which.size(); ++k)
        logits[k].insert(logits[k].end(), l.begin() + seqs[k].begin * V,
                         l.begin() + (seqs[k].begin + seqs[k].count) * V);
    }
    return logits;
  };
  const auto batched = run(gpu, dg, {0, 1, 2, 3, 4});
  for (size_t k = 0; k < prompts.size(); ++k) {
    const auto alone = run(cpu, dc, {k});
    EXPECT_LE(test::norm_rel_error(batched[k], alone[0]), kTol) << "answer " << k;
  }
  EXPECT_EQ(dg.length(), mem.slots());  // the shared memory is untouched
  GenerateParams gp;
  gp.max_new_tokens = 10;
  const auto together = dg.generate_batch(prompts, gp);
  for (size_t k = 0; k < prompts.size(); ++k) {
    const std::vector<int32_t>& got = together[k].ids;
    ASSERT_EQ(got.size(), 10u);
    expect_teacher_forced(dg.prompt_logits(concat(prompts[k], got, got.size() - 1)), V,
                          prompts[k].size(), got, "batched answer " + std::to_string(k));
  }
}

// Per level (spec §2.8): ‖a − b‖ / ‖b‖ of two memories' slots.
std::vector<double> level_errors(const Memory& a, const Memory& b) {
  const std::vector<float> va = a.as_tensor().to_vector(), vb = b.as_tensor().to_vector();
  std::vector<double> num(size_t(b.levels)), den(size_t(b.levels));
  for (size_t i = 0; i < vb.size(); ++i) {
    const size_t l = (i / size_t(b.hidden)) % size_t(b.levels);
    num[l] += (double(va[i]) - vb[i]) * (double(va[i]) - vb[i]);
    den[l] += double(vb[i]) * vb[i];
  }
  std::vector<double> e;
  for (size_t l = 0; l < num.size(); ++l) e.push_back(den[l] > 0 ? std::sqrt(num[l] / den[l]) : 0);
  return e;
}

TEST(CudaFp8, EncoderSlotsAndAnswersStayCloseToBf16) {
  // The encoder's products in FP8 (one scale per operand) against the bf16 encoder on the same
  // random model (H 64, W 64, R 8, several windows). Tolerances: level 0 (embeddings) is untouched,
  // 0; each later level ≤ 0.1 — every product's operands carry E4M3's ≈ 2.6% RMS rounding (3
  // mantissa bits), and the levels add to it (measured 0.042 / 0.054 / 0.063 on an H100); the
  // decoder's logits from the FP8 memory ≤ 0.05 of those from the bf16 one.
  ModelConfig cfg;
  cfg.vocab_size = 211, cfg.hidden_size = 64, cfg.num_layers = 3, cfg.num_heads = 4;
  cfg.intermediate_size = 256, cfg.rotary_pct = 0.5;
  RCCSettings s;
  s.window = 64, s.ratio = 8, s.mode = WindowMode::Aligned;
  const RCCModel cpu = init_random_rcc(cfg, s, DType::F32, 11);
  const RCCModel gpu = on_cuda(cpu);
  RCCModel gpu8{Transformer(cfg, cpu.encoder.weights(), cuda(), /*fp8_linear=*/true),
                gpu.decoder,
                cpu.embed_proj,
                cpu.layer_proj,
                cpu.settings,
                cpu.encoder_fingerprint};
  gpu8.prepare();
  std::vector<int32_t> ids(900);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 104729 + 7) % 211);
  const Memory m16 = Compressor(gpu).compress(ids, WindowMode::Aligned, DType::F32);
  const Memory m8 = Compressor(gpu8).compress(ids, WindowMode::Aligned, DType::F32);
  ASSERT_EQ(m8.slots(), m16.slots());
  const std::vector<double> e = level_errors(m8, m16);
  for (size_t l = 0; l < e.size(); ++l) {
    std::printf("level %zu: fp8 vs bf16 slot error %.4f\n", l, e[l]);
    EXPECT_LE(e[l], l == 0 ? 0.0 : 0.1) << "level " << l;
  }
  EXPECT_GT(e.back(), 0.0);  // the FP8 path ran
  DecoderMemory d16(gpu), d8(gpu);
  d16.extend(m16, 0, m16.slots());
  d8.extend(m8, 0, m8.slots());
  const std::vector<int32_t> prompt = {5, 6, 7, 8};
  EXPECT_LE(test::norm_rel_error(d8.prompt_logits(prompt), d16.prompt_logits(prompt)), 5e-2);
  // From a directory: rcc.json's encoder_precision, and the load-time override.
  test::TempDir tmp;
  RCCModel saved = cpu;
  saved.settings.encoder_precision = EncoderPrecision::FP8;
  saved.save(tmp.path(), DType::F32);
  const RCCModel loaded = RCCModel::load(tmp.path(), cuda());
  EXPECT_TRUE(loaded.encoder.fp8_linear());
  EXPECT_FALSE(loaded.decoder.fp8_linear());
  EXPECT_EQ(Compressor(loaded).compress(ids, WindowMode::Aligned, DType::F32).data, m8.data);
  const RCCModel as_bf16 = RCCModel::load(tmp.path(), cuda(), EncoderPrecision::BF16);
  EXPECT_FALSE(as_bf16.encoder.fp8_linear());
  EXPECT_EQ(as_bf16.settings.encoder_precision, EncoderPrecision::BF16);
  EXPECT_THROW(RCCModel::load(tmp.path(), cpu_backend()), Error);  // FP8 needs CUDA
}

}  // namespace
}  // namespace rcc
