#!/usr/bin/env python3
"""Tiny random RCC checkpoints in the released layout (docs/spec.md §5) and what docs/spec.md §2–§3
computes with them, using Hugging Face GPT-NeoX modules for every transformer computation.

Checkpoints (tests/fixtures/rcc/<name>/, no rcc.json, so W = 2048, R = 32, compat mode):
  rcc-f32          f32, one model.safetensors
  rcc-bf16-split   bf16, two shards; `gpt_neox.rcc_encoder.gpt_neox.embed_in.weight` is split
                   across them along dim 0; old buffers (attention.bias, masked_bias, inv_freq)
                   present; the duplicate head gpt_neox.embed_out.weight present
Cases per checkpoint (compat mode): context shorter than W, equal to W, longer and not a multiple,
an exact multiple above W. Per case (tests/fixtures/rcc/<name>-expected/<case>.safetensors):
  context_ids [n] I32, prompt_ids [T] I32,
  slots [P, L+1, H] f32                       encoder memory (§2)
  logits_bf16mem [P+T, V] f32                 decoder prefill logits, memory cast to bf16 first
                                              (as the reference does), f32 compute
  logits_f32mem_prompt [T, V] f32             same with f32 memory, prompt rows only
and <case>.json: greedy_ids_bf16mem, greedy_ids_f32mem (16 each, no eos stop), margins.
bf16 checkpoints: weights rounded to bf16, all compute in f32.
"""
import argparse
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file

from common import (hub_names, layer_params, make_config, make_model, memory_names, save_json,
                    spec_layer)

W, R = 2048, 32
CFG = dict(vocab=300, hidden=32, layers=2, heads=4, inter=128, rot=0.25, parallel=True)
CASES = {"short": 1000, "equal": 2048, "longer": 5000, "multiple": 4096}
PROMPT_LEN = 12


def compat_windows(ids, w):
    """docs/spec.md §2.3 compat alignment: every window full."""
    n = len(ids)
    if n > w:
        ids = ids[n - (w - n % w):] + ids if n % w else ids[-w:] + ids
    else:
        tiled = ids * (w // n)
        rem = w % n
        ids = (tiled[-rem:] if rem else []) + tiled
    assert len(ids) % w == 0
    return [ids[i:i + w] for i in range(0, len(ids), w)]


def encoder_states(enc, window):
    """[T, L+1, H]: s_0 = embeddings, s_i = output of layer i-1, s_L = final_layer_norm(last layer),
    each captured from the HF module that computes it."""
    rec = {}
    hooks = [enc.gpt_neox.embed_in.register_forward_hook(lambda m, a, o: rec.__setitem__("emb", o))]
    for i, layer in enumerate(enc.gpt_neox.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, a, o, i=i: rec.__setitem__(i, o[0] if isinstance(o, tuple) else o)))
    hooks.append(enc.gpt_neox.final_layer_norm.register_forward_hook(
        lambda m, a, o: rec.__setitem__("final", o)))
    out = enc(input_ids=torch.tensor([window]), output_hidden_states=True)
    for h in hooks:
        h.remove()
    L = enc.config.num_hidden_layers
    states = [rec["emb"][0]] + [rec[i][0] for i in range(L - 1)] + [rec["final"][0]]
    st = torch.stack(states, 1).float()
    hs = torch.stack([h[0] for h in out.hidden_states], 1).float()
    return st, (st - hs).abs().max().item()  # HF's own hidden_states, for information


def decoder_logits(dec, E, A, memory, prompt):
    """§3: x[0:P] = E s_0, x[P:] = embed_in(prompt); after layer i, x[0:P] += A_i s_{i+1}."""
    P = memory.shape[0]
    inj = [memory[:, i + 1] @ A[i].T for i in range(len(A))]
    x = torch.cat([memory[:, 0] @ E.T, dec.gpt_neox.embed_in(torch.tensor(prompt))], 0)[None]
    hooks = []
    for i, layer in enumerate(dec.gpt_neox.layers):
        def hook(m, a, o, i=i):
            h = (o[0] if isinstance(o, tuple) else o).clone()
            h[:, :P] += inj[i]
            return (h,) + tuple(o[1:]) if isinstance(o, tuple) else h
        hooks.append(layer.register_forward_hook(hook))
    logits = dec(inputs_embeds=x, use_cache=False).logits[0].float()
    for h in hooks:
        h.remove()
    return logits


def spec_decoder_logits(sd, cfg, memory, prompt):
    """Independent transcription (cross-check of the hook-based HF computation)."""
    P, L = memory.shape[0], cfg.num_hidden_layers
    E = sd["gpt_neox.rcc_encoder2gpt_embed.weight"]
    x = torch.cat([memory[:, 0] @ E.T, sd["gpt_neox.embed_in.weight"][torch.tensor(prompt)]], 0)
    for i in range(L):
        x = spec_layer(layer_params(sd, "", i), x, cfg)
        x[:P] += memory[:, i + 1] @ sd[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"].T
    x = torch.nn.functional.layer_norm(x, (cfg.hidden_size,), sd["gpt_neox.final_layer_norm.weight"],
                                       sd["gpt_neox.final_layer_norm.bias"], cfg.layer_norm_eps)
    return x @ sd["embed_out.weight"].T


def greedy(dec, E, A, memory, prompt, n=16):
    seq, margins = list(prompt), []
    for _ in range(n):
        l = decoder_logits(dec, E, A, memory, seq)[-1]
        top = l.topk(2).values
        margins.append((top[0] - top[1]).item())
        seq.append(int(l.argmax()))
    return seq[len(prompt):], min(margins)


def build_state_dict(seed):
    cfg = make_config(CFG["vocab"], CFG["hidden"], CFG["layers"], CFG["heads"], CFG["inter"],
                      CFG["rot"], CFG["parallel"])
    dec = make_model(cfg, seed)
    enc = make_model(cfg, seed + 1000)
    g = torch.Generator().manual_seed(seed + 2000)
    H, L = CFG["hidden"], CFG["layers"]
    sd = hub_names(dict(dec.state_dict()))
    sd["gpt_neox.embed_out.weight"] = sd["embed_out.weight"].clone()  # the unused duplicate head
    sd["gpt_neox.rcc_encoder2gpt_embed.weight"] = torch.randn(H, H, generator=g) / H ** 0.5
    for i in range(L):
        sd[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"] = torch.randn(H, H, generator=g) / H ** 0.5
    for k, v in hub_names(enc.state_dict()).items():
        sd["gpt_neox.rcc_encoder." + k] = v
    return cfg, sd


def models_from_sd(cfg, sd):
    dec = transformers.GPTNeoXForCausalLM(cfg).float().eval()
    enc = transformers.GPTNeoXForCausalLM(cfg).float().eval()
    dec.load_state_dict(memory_names({k: v for k, v in sd.items() if not k.startswith("gpt_neox.rcc")
                                      and k != "gpt_neox.embed_out.weight"}), strict=True)
    pre = "gpt_neox.rcc_encoder."
    enc.load_state_dict(memory_names({k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}),
                        strict=True)
    E = sd["gpt_neox.rcc_encoder2gpt_embed.weight"]
    A = [sd[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"] for i in range(cfg.num_hidden_layers)]
    return dec, enc, E, A


def write_checkpoint(out, cfg, sd, dtype, split):
    os.makedirs(out)
    cfg_json = {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
        "vocab_size": CFG["vocab"], "hidden_size": CFG["hidden"],
        "num_hidden_layers": CFG["layers"], "num_attention_heads": CFG["heads"],
        "intermediate_size": CFG["inter"], "hidden_act": "gelu", "rotary_pct": CFG["rot"],
        "rotary_emb_base": 10000, "max_position_embeddings": 2048, "layer_norm_eps": 1e-5,
        "use_parallel_residual": CFG["parallel"], "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16" if dtype == torch.bfloat16 else "float32"}
    save_json(os.path.join(out, "config.json"), cfg_json)
    st = {k: v.to(dtype).contiguous() for k, v in sd.items()}
    if not split:
        save_file(st, os.path.join(out, "model.safetensors"))
        return
    names = sorted(st)
    first, second = {}, {}
    for i, k in enumerate(names):
        (first if i % 2 == 0 else second)[k] = st[k]
    big = "gpt_neox.rcc_encoder.gpt_neox.embed_in.weight"
    t = st[big]
    first[big], second[big] = t[:100].contiguous(), t[100:].contiguous()
    # Old buffers that a loader must ignore.
    first["gpt_neox.layers.0.attention.bias"] = torch.ones(1, 1, 8, 8, dtype=torch.bool).tril()
    first["gpt_neox.layers.0.attention.masked_bias"] = torch.tensor(-1e9)
    second["gpt_neox.rcc_encoder.gpt_neox.layers.1.attention.rotary_emb.inv_freq"] = torch.ones(4)
    save_file(first, os.path.join(out, "model-00001-of-00002.safetensors"))
    save_file(second, os.path.join(out, "model-00002-of-00002.safetensors"))


def build(name, dtype, split, seed, root):
    out = os.path.join(root, name)
    exp = os.path.join(root, name + "-expected")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(exp, ignore_errors=True)
    cfg, sd = build_state_dict(seed)
    write_checkpoint(out, cfg, sd, dtype, split)
    sd = {k: v.to(dtype).float() for k, v in sd.items()}  # what the files hold, in f32
    dec, enc, E, A = models_from_sd(cfg, sd)
    os.makedirs(exp)
    g = torch.Generator().manual_seed(seed + 3000)
    ok = True
    for case, n in CASES.items():
        ctx = torch.randint(2, CFG["vocab"], (n,), generator=g).tolist()
        prompt = torch.randint(2, CFG["vocab"], (PROMPT_LEN,), generator=g).tolist()
        slots, hs_diff = [], 0.0
        for win in compat_windows(ctx, W):
            st, d = encoder_states(enc, win)
            hs_diff = max(hs_diff, d)
            slots.append(st[R - 1::R])
        memory = torch.cat(slots, 0)  # [P, L+1, H]
        mem_bf16 = memory.to(torch.bfloat16).float()
        logits_b = decoder_logits(dec, E, A, mem_bf16, prompt)
        logits_f = decoder_logits(dec, E, A, memory, prompt)
        spec = spec_decoder_logits(sd, cfg, mem_bf16, prompt)
        spec_err = ((spec - logits_b).abs().max() / logits_b.abs().max()).item()
        ids_b, m_b = greedy(dec, E, A, mem_bf16, prompt)
        ids_f, m_f = greedy(dec, E, A, memory, prompt)
        print(f"{name}/{case}: n={n} P={memory.shape[0]} spec err {spec_err:.2e} "
              f"hidden_states vs spec {hs_diff:.2e} margins {m_b:.3e}/{m_f:.3e}")
        if spec_err > 1e-4:
            print(f"ERROR {name}/{case}: decoder hook computation disagrees with the spec transcription")
            ok = False
        save_file({"context_ids": torch.tensor(ctx, dtype=torch.int32),
                   "prompt_ids": torch.tensor(prompt, dtype=torch.int32),
                   "slots": memory.contiguous(),
                   "logits_bf16mem": logits_b.contiguous(),
                   "logits_f32mem_prompt": logits_f[-PROMPT_LEN:].contiguous()},
                  os.path.join(exp, case + ".safetensors"))
        save_json(os.path.join(exp, case + ".json"), {
            "n": n, "P": memory.shape[0], "W": W, "R": R, "mode": "compat",
            "greedy_ids_bf16mem": ids_b, "greedy_ids_f32mem": ids_f,
            "min_margin_bf16mem": m_b, "min_margin_f32mem": m_f, "spec_rel_err": spec_err,
            "hf_hidden_states_max_abs_diff_vs_spec": hs_diff,
            "torch": torch.__version__, "transformers": transformers.__version__})
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "rcc"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    ok = build("rcc-f32", torch.float32, False, 11, args.out)
    ok = build("rcc-bf16-split", torch.bfloat16, True, 12, args.out) and ok
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
