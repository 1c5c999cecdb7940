#!/usr/bin/env python3
"""The reference stack for the GPU benchmark: PyTorch + Hugging Face transformers, bf16, SDPA
attention, running the RCC pipeline of docs/spec.md §2–§3 on Pythia-1.4b-shaped random weights:
encoder windows (W 2048) -> slots every R = 32 tokens at all L+1 levels -> decoder prefill of the
memory with E / A_i injection -> 32 greedy tokens; and plain Pythia generation of the same contexts
until it runs out of memory. Prints one JSON line per measurement (wall seconds, peak GiB).

Usage (on the GPU host): python3 bench/reference/rcc_pytorch.py --tokens 8192,131072,1048576
With --save-model DIR the random weights are also written in rcc's checkpoint layout (config.json,
rcc.json, bf16 safetensors; docs/spec.md §5.2 names) so that rcc runs the very same model.
"""
import argparse
import json
import os
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

W, R = 2048, 32


def config(layers, hidden, heads, vocab):
    return GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=4 * hidden, rotary_pct=0.25,
                         max_position_embeddings=1 << 23, attn_implementation="sdpa")


def make(cfg, seed):
    torch.manual_seed(seed)
    with torch.device("cuda"):
        m = GPTNeoXForCausalLM(cfg).to(torch.bfloat16).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.02)
    return m


@torch.no_grad()
def rcc_pipeline(enc, dec, E, A, ids, batch_windows, new_tokens):
    L = enc.config.num_hidden_layers
    n = ids.numel()
    pad = (W - n % W) % W  # compat-style full windows (front padding with the context's tail)
    full = torch.cat([ids[n - pad:], ids]) if pad else ids
    wins = full.view(-1, W)
    slots = []
    for b in range(0, wins.shape[0], batch_windows):
        hs = enc.gpt_neox(input_ids=wins[b:b + batch_windows], output_hidden_states=True).hidden_states
        slots.append(torch.stack([h[:, R - 1::R] for h in hs], 2).flatten(0, 1))  # [B*S, L+1, H]
        del hs
    mem = torch.cat(slots)  # [P, L+1, H] bf16
    del slots
    P = mem.shape[0]
    inj = {}

    def hook(i):
        def f(m, a, o):
            h = o[0] if isinstance(o, tuple) else o
            if h.shape[1] >= P:  # the prefill pass holds the memory rows
                h[:, :P] += mem[:, i + 1] @ A[i].T
            return o
        return f

    hooks = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(dec.gpt_neox.layers)]
    prompt = torch.arange(10, 20, device="cuda")
    x = torch.cat([mem[:, 0] @ E.T, dec.gpt_neox.embed_in(prompt)])[None]
    out = dec.generate(inputs_embeds=x, attention_mask=torch.ones(1, x.shape[1], dtype=torch.long, device="cuda"),
                       max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                       eos_token_id=None, pad_token_id=0)
    for h in hooks:
        h.remove()
    return out, P


@torch.no_grad()
def plain(dec, ids, new_tokens):
    return dec.generate(ids[None], attention_mask=torch.ones(1, ids.numel(), dtype=torch.long, device="cuda"),
                        max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                        eos_token_id=None, pad_token_id=0)


def save_rcc_layout(out, cfg, enc, dec, E, A):
    """The random model in rcc's layout: decoder under plain GPT-NeoX names, encoder under
    gpt_neox.rcc_encoder., projections as gpt_neox.rcc_encoder2gpt_embed / _A_matrix.{i}."""
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    t = {}
    for name, p in dec.named_parameters():
        t["embed_out.weight" if name.startswith("lm_head.") else name] = p
    for name, p in enc.named_parameters():
        if not name.startswith(("lm_head.", "embed_out.")):
            t["gpt_neox.rcc_encoder." + name] = p
    t["gpt_neox.rcc_encoder2gpt_embed.weight"] = E
    for i, a in enumerate(A):
        t[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"] = a
    save_file({k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in t.items()},
              os.path.join(out, "model.safetensors"))
    c = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
         "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
         "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
         "intermediate_size": cfg.intermediate_size, "hidden_act": "gelu", "rotary_pct": 0.25,
         "rotary_emb_base": 10000, "max_position_embeddings": 1 << 23, "layer_norm_eps": 1e-5,
         "use_parallel_residual": True, "tie_word_embeddings": False, "bos_token_id": 0,
         "eos_token_id": 0, "torch_dtype": "bfloat16"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    with open(os.path.join(out, "rcc.json"), "w") as f:
        json.dump({"format": "rcc", "version": 1, "window": W, "ratio": R, "mode": "compat",
                   "memory_dtype": "bf16"}, f, indent=1)


def measure(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    r = fn()
    torch.cuda.synchronize()
    return r, time.perf_counter() - t, torch.cuda.max_memory_allocated() / 2**30


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="8192,131072,1048576,4194304")
    ap.add_argument("--plain-tokens", default="8192,131072,262144,524288,1048576")
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--batch-windows", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--save-model", default="", help="also write the random model in rcc's layout here")
    ap.add_argument("--save-only", action="store_true", help="write --save-model and exit")
    a = ap.parse_args()
    cfg = config(a.layers, a.hidden, a.heads, a.vocab)
    enc, dec = make(cfg, 1), make(cfg, 2)
    g = torch.Generator(device="cuda").manual_seed(3)
    E = torch.randn(a.hidden, a.hidden, device="cuda", generator=g).to(torch.bfloat16) / a.hidden ** 0.5
    A = [torch.randn(a.hidden, a.hidden, device="cuda", generator=g).to(torch.bfloat16) / a.hidden ** 0.5
         for _ in range(a.layers)]
    if a.save_model:
        save_rcc_layout(a.save_model, cfg, enc, dec, E, A)
        if a.save_only:
            return
    base = {"card": torch.cuda.get_device_name(), "torch": torch.__version__,
            "layers": a.layers, "hidden": a.hidden}
    warm = torch.randint(0, a.vocab, (W,), device="cuda")
    rcc_pipeline(enc, dec, E, A, warm, a.batch_windows, 2)  # warm-up
    for n in [int(x) for x in a.tokens.split(",") if x]:
        ids = torch.randint(0, a.vocab, (n,), device="cuda", generator=g)
        try:
            (_, P), s, gib = measure(lambda: rcc_pipeline(enc, dec, E, A, ids, a.batch_windows, a.new_tokens))
            print(json.dumps({**base, "kind": "rcc", "tokens": n, "slots": P, "seconds": s, "peak_gib": gib}), flush=True)
        except torch.OutOfMemoryError:
            print(json.dumps({**base, "kind": "rcc", "tokens": n, "oom": True}), flush=True)
        torch.cuda.empty_cache()
    for n in [int(x) for x in a.plain_tokens.split(",") if x]:
        ids = torch.randint(0, a.vocab, (n,), device="cuda", generator=g)
        try:
            _, s, gib = measure(lambda: plain(dec, ids, a.new_tokens))
            print(json.dumps({**base, "kind": "plain", "tokens": n, "seconds": s, "peak_gib": gib}), flush=True)
        except torch.OutOfMemoryError:
            print(json.dumps({**base, "kind": "plain", "tokens": n, "oom": True}), flush=True)
            break
        finally:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
