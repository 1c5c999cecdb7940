#!/usr/bin/env python3
"""Builds tiny random models of the Llama family with Hugging Face transformers (LlamaForCausalLM,
Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM) and records what transformers computes with
them: full-sequence logits and 16 greedy ids. Run where PyTorch and transformers are installed (the
GPU host; the computation is f32 on the CPU); outputs go to tests/fixtures/llama/<case>/.

Every parameter is random and non-trivial (norm weights around 1, biases around 0), so a tensor
loaded into the wrong place changes the logits. Cases (each exercises something the others do not):
  llama3-gqa       grouped-query attention (4 query heads, 2 kv heads), rope_theta 500000 with
                   Llama 3 frequency scaling, untied head, f32
  llama-bias-bf16  attention_bias and mlp_bias, tied embeddings, plain heads, bf16 weights
                   (reference computed in f32 on the bf16-rounded weights, as rcc computes)
  qwen2-mqa        q/k/v biases without an output bias, one kv head, sharded safetensors
  qwen3-headdim    head_dim 32 with hidden 64 and 4 heads (q width 128 != hidden), per-head q/k
                   RMSNorm, tied embeddings
  mistral-window   sliding window 8 over a 40-token prompt, grouped-query attention
Each case dir: config.json (as this transformers version writes it), *.safetensors,
expected.safetensors (logits [T, V] f32), expected.json (prompt ids, greedy ids, versions, margins).
"""
import argparse
import json
import os
import shutil
import sys

import torch
import transformers

CASES = [
    dict(name="llama3-gqa", arch="llama", vocab=512, hidden=64, layers=2, heads=4, kv=2,
         inter=160, theta=500000.0, scaling=dict(rope_type="llama3", factor=8.0,
                                                 low_freq_factor=1.0, high_freq_factor=4.0,
                                                 original_max_position_embeddings=64),
         tie=False, dtype="float32", seed=11, T=32, shard=None),
    dict(name="llama-bias-bf16", arch="llama", vocab=384, hidden=48, layers=2, heads=3, kv=3,
         inter=96, theta=10000.0, attention_bias=True, mlp_bias=True, tie=True,
         dtype="bfloat16", seed=12, T=24, shard=None),
    dict(name="qwen2-mqa", arch="qwen2", vocab=448, hidden=64, layers=3, heads=4, kv=1, inter=128,
         theta=1000000.0, tie=False, dtype="float32", seed=13, T=24, shard="100KB"),
    dict(name="qwen3-headdim", arch="qwen3", vocab=512, hidden=64, layers=2, heads=4, kv=2,
         head_dim=32, inter=128, theta=1000000.0, tie=True, dtype="float32", seed=14, T=24,
         shard=None),
    dict(name="mistral-window", arch="mistral", vocab=400, hidden=64, layers=2, heads=4, kv=2,
         inter=128, theta=10000.0, window=8, tie=False, dtype="float32", seed=15, T=40,
         shard=None),
]

CLASSES = {
    "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
    "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
}


def make_config(case):
    cls, _ = CLASSES[case["arch"]]
    kw = dict(vocab_size=case["vocab"], hidden_size=case["hidden"],
              num_hidden_layers=case["layers"], num_attention_heads=case["heads"],
              num_key_value_heads=case["kv"], intermediate_size=case["inter"],
              max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=case["tie"],
              bos_token_id=1, eos_token_id=2, hidden_act="silu")
    if "head_dim" in case:
        kw["head_dim"] = case["head_dim"]
    if case["arch"] == "llama":
        kw["attention_bias"] = case.get("attention_bias", False)
        kw["mlp_bias"] = case.get("mlp_bias", False)
    if case["arch"] == "mistral":
        kw["sliding_window"] = case["window"]
    rope = {"rope_type": "default", "rope_theta": case["theta"]}
    if "scaling" in case:
        rope = dict(case["scaling"], rope_theta=case["theta"])
    cfg = cls(**kw)
    # transformers 5 keeps the rotary settings in rope_parameters; 4.x in rope_theta/rope_scaling.
    if hasattr(cfg, "rope_parameters") and cfg.rope_parameters is not None:
        cfg.rope_parameters = dict(rope)
    else:
        cfg.rope_theta = case["theta"]
        if "scaling" in case:
            cfg.rope_scaling = dict(case["scaling"])
    cfg._attn_implementation = "eager"
    return cfg


def make_model(case, cfg):
    torch.manual_seed(case["seed"])
    _, cls = CLASSES[case["arch"]]
    model = cls(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    return model


def build(case, out_root):
    out = os.path.join(out_root, case["name"])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cfg = make_config(case)
    model = make_model(case, cfg)
    kw = {"max_shard_size": case["shard"]} if case["shard"] else {}
    model.to(getattr(torch, case["dtype"])).save_pretrained(out, safe_serialization=True, **kw)
    if os.path.exists(os.path.join(out, "generation_config.json")):
        os.remove(os.path.join(out, "generation_config.json"))
    _, cls = CLASSES[case["arch"]]
    ref = cls.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(100 + case["seed"])
    T = case["T"]
    ids = torch.randint(3, case["vocab"], (T,), generator=g)
    with torch.no_grad():
        logits = ref(ids[None]).logits[0].float()
        gen = ref.generate(ids[None], attention_mask=torch.ones(1, T, dtype=torch.long),
                           max_new_tokens=16, min_new_tokens=16, do_sample=False,
                           eos_token_id=None, pad_token_id=0)[0, T:].tolist()
        seq, margins = ids.tolist(), []
        for _ in range(16):
            l = ref(torch.tensor([seq])).logits[0, -1]
            top = l.topk(2).values
            margins.append((top[0] - top[1]).item())
            seq.append(int(l.argmax()))
        # Sanity: the features this case is about change the logits (else the case tests nothing).
        checks = {}
        if case["arch"] == "mistral":
            full = cls.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
            full.config.sliding_window = None
            for layer in full.model.layers:
                if hasattr(layer.self_attn, "sliding_window"):
                    layer.self_attn.sliding_window = None
            if hasattr(full.config, "layer_types"):
                full.config.layer_types = ["full_attention"] * case["layers"]
            l_full = full(ids[None]).logits[0]
            checks["window_changes_logits_rel"] = ((l_full - logits).abs().max() /
                                                   logits.abs().max()).item()
    ok = seq[T:] == gen
    print(f"{case['name']}: min greedy margin {min(margins):.3e}; generate == recomputation: {ok};"
          f" {checks}")
    with open(os.path.join(out, "config.json")) as f:
        print(f"{case['name']} config.json: {f.read()}")
    from safetensors.torch import save_file
    save_file({"logits": logits.contiguous()}, os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"prompt_ids": ids.tolist(), "greedy_ids": gen, "min_greedy_margin": min(margins),
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "checks": checks, "case": case}, f, indent=1)
        f.write("\n")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                                  "llama"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    ok = all([build(case, args.out) for case in CASES])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
