// An RCC model (spec §2, §3, §5): an encoder GPT-NeoX (no LM head) that compresses windows into
// slots, a decoder GPT-NeoX that generates from them, and the projections E and A_i that carry
// encoder states into the decoder. Both networks run the one GPT-NeoX implementation (model/).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "rcc/settings.h"

namespace rcc {

struct RCCModel {
  Transformer encoder;             // names under gpt_neox.rcc_encoder.
  Transformer decoder;             // plain GPT-NeoX names
  Tensor embed_proj;               // E   gpt_neox.rcc_encoder2gpt_embed.weight       [H, H]
  std::vector<Tensor> layer_proj;  // A_i gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight [H, H]
  RCCSettings settings;
  uint64_t encoder_fingerprint = 0;  // identifies what produced a memory (see fingerprint())

  // E and A_i as the backend computes with them (filled by prepare(); the CPU: the same tensors).
  Tensor embed_proj_dev{};
  std::vector<Tensor> layer_proj_dev{};

  Backend& backend() const { return decoder.backend(); }
  int64_t hidden() const { return decoder.config().hidden_size; }
  int64_t layers() const { return decoder.config().num_layers; }

  // Loads the released layout (bf16 shards, pieces of a tensor across shards concatenated) or the
  // layout rcc writes (the same names plus rcc.json).
  // Encoder and decoder are built on backend `be` (weights uploaded where it is a device).
  // `encoder_precision` replaces rcc.json's (spec §2.8); settings.encoder_precision is the one
  // used.
  static RCCModel load(const std::string& dir, Backend& be = cpu_backend(),
                       std::optional<EncoderPrecision> encoder_precision = std::nullopt);
  // Fills embed_proj_dev / layer_proj_dev from embed_proj / layer_proj for the decoder's backend.
  // load() calls it; code that builds an RCCModel from parts calls it once the parts are set.
  void prepare();
  // Writes config.json, rcc.json and the weights as shards of at most `max_shard_bytes` (with
  // model.safetensors.index.json when there are several), converted to `dtype`.
  // `q8`: the linear layers' matrices of both networks stored as int8 with block scales
  // (model/weights.h quantize_linear_weights), everything else in `dtype`.
  void save(const std::string& dir, DType dtype, size_t max_shard_bytes = size_t(2) << 30,
            bool q8 = false) const;
};

// XXH64 over the encoder's config, W, R and every encoder weight: two memories are compatible
// exactly when their fingerprints agree.
uint64_t encoder_fingerprint(const Transformer& encoder, const RCCSettings& s);

}  // namespace rcc
