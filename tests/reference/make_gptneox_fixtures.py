#!/usr/bin/env python3
"""Builds tiny random GPT-NeoX models with Hugging Face transformers and records what Hugging Face
computes with them: full-sequence logits and 16 greedy ids. Run on a machine with PyTorch and
transformers (the GPU host); outputs go to tests/fixtures/gptneox/<case>/.

Cases:
  parallel-f32   parallel residual, rotary_pct 0.25, f32 weights, one model.safetensors
  serial-bf16    serial residual, rotary_pct 1.0, bf16 weights (reference computed in f32 on the
                 bf16-rounded weights: rcc stores bf16 and computes in f32)
  sharded-f32    parallel residual, rotary_pct 0.5, f32, split into shards + index.json, and the
                 config.json exactly as this transformers version writes it (newer rotary spellings)
Each case dir: config.json, *.safetensors, expected.safetensors (logits [T, V] f32),
expected.json (prompt ids, greedy ids, versions, top-2 margins).
"""
import argparse
import os
import shutil
import sys
import types

import torch
import transformers
from safetensors.torch import save_file

from common import (hub_names, layer_params, make_config, make_model, pythia_config_json, save_json,
                    spec_layer)

CASES = [
    dict(name="parallel-f32", vocab=1000, hidden=64, layers=3, heads=4, inter=256, rot=0.25,
         parallel=True, dtype="float32", seed=1, shard=None, pythia_cfg=True),
    dict(name="serial-bf16", vocab=768, hidden=96, layers=2, heads=6, inter=192, rot=1.0,
         parallel=False, dtype="bfloat16", seed=2, shard=None, pythia_cfg=True),
    dict(name="sharded-f32", vocab=600, hidden=64, layers=2, heads=2, inter=128, rot=0.5,
         parallel=True, dtype="float32", seed=3, shard="200KB", pythia_cfg=False),
]


def spec_logits(model, case, ids):
    """Logits by the independent transcription of docs/spec.md §1, using the case's intended
    settings."""
    cfg = types.SimpleNamespace(hidden_size=case["hidden"], num_attention_heads=case["heads"],
                                num_hidden_layers=case["layers"], rotary_pct=case["rot"],
                                rotary_emb_base=10000.0, layer_norm_eps=1e-5,
                                use_parallel_residual=case["parallel"])
    sd = hub_names({k: v.float() for k, v in model.state_dict().items()})
    x = sd["gpt_neox.embed_in.weight"][ids]
    for i in range(cfg.num_hidden_layers):
        x = spec_layer(layer_params(sd, "", i), x, cfg)
    x = torch.nn.functional.layer_norm(x, (cfg.hidden_size,), sd["gpt_neox.final_layer_norm.weight"],
                                       sd["gpt_neox.final_layer_norm.bias"], cfg.layer_norm_eps)
    return x @ sd["embed_out.weight"].T


def build(case, out_root):
    out = os.path.join(out_root, case["name"])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cfg = make_config(case["vocab"], case["hidden"], case["layers"], case["heads"], case["inter"],
                      case["rot"], case["parallel"])
    model = make_model(cfg, case["seed"])
    dtype = getattr(torch, case["dtype"])
    kw = {"max_shard_size": case["shard"]} if case["shard"] else {}
    model.to(dtype).save_pretrained(out, safe_serialization=True, **kw)
    model = make_model(cfg, case["seed"])  # the f32 original again (to() above was in place)
    if case["pythia_cfg"]:
        save_json(os.path.join(out, "config.json"), pythia_config_json(cfg, case["dtype"]))
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))
    # Reference: the written directory loaded back by HF in f32 (weights as stored, e.g. bf16-rounded;
    # buffers such as rotary inv_freq freshly computed in f32), computed in f32.
    ref = transformers.GPTNeoXForCausalLM.from_pretrained(out, dtype=torch.float32,
                                                          attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(100 + case["seed"])
    T = 24
    ids = torch.randint(2, case["vocab"], (T,), generator=g)
    with torch.no_grad():
        logits = ref(ids[None]).logits[0].float()
        check = spec_logits(ref, case, ids)
        spec_err = ((logits - check).abs().max() / logits.abs().max()).item()
        gen = ref.generate(ids[None], attention_mask=torch.ones(1, T, dtype=torch.long),
                           max_new_tokens=16, min_new_tokens=16, do_sample=False,
                           eos_token_id=None, pad_token_id=0)[0, T:].tolist()
        # Greedy by full recomputation, and the margin between the two best logits at each step.
        seq, margins = ids.tolist(), []
        for _ in range(16):
            l = ref(torch.tensor([seq])).logits[0, -1]
            top = l.topk(2).values
            margins.append((top[0] - top[1]).item())
            seq.append(int(l.argmax()))
    assert seq[T:] == gen, "HF generate disagrees with full recomputation"
    print(f"{case['name']}: spec cross-check rel err {spec_err:.2e}, min greedy margin {min(margins):.3e}")
    # The in-memory model (f32 weights before rounding) for information: the bf16 rounding effect.
    with torch.no_grad():
        reload_err = ((model.float()(ids[None]).logits[0] - logits).abs().max() / logits.abs().max()).item()
    print(f"{case['name']}: in-memory model vs written dir: {reload_err:.2e}")
    ok = spec_err < 1e-4
    if not ok:
        print(f"ERROR {case['name']}: the HF configuration does not mean what this script intends")
    save_file({"logits": logits.contiguous()}, os.path.join(out, "expected.safetensors"))
    save_json(os.path.join(out, "expected.json"), {
        "prompt_ids": ids.tolist(), "greedy_ids": gen, "min_greedy_margin": min(margins),
        "spec_cross_check_rel_err": spec_err, "torch": torch.__version__,
        "transformers": transformers.__version__, "reload_rel_err": reload_err, "case": case})
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "gptneox"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    ok = all([build(case, args.out) for case in CASES])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
