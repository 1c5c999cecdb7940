#!/usr/bin/env python3
"""Training fixtures for rcc (tests/train_reference_test.cpp): a tiny random RCC model in the released
layout (docs/spec.md §5) plus rcc.json, one batch of three samples, and what PyTorch + Hugging Face
GPT-NeoX compute with it, in f32:

  the decoder logits of every row, the loss, the gradient of every trained parameter, and the losses
  of 10 AdamW steps on the same batch (with gradient clipping), plus every parameter after them.

RCC computation (docs/spec.md §2–§3, aligned windows, f32 memory), using HF modules for every
transformer computation (hooks on HF layers, as make_rcc_fixtures.py):
  encoder: each aligned window of W tokens through the encoder GPTNeoXForCausalLM; slots at positions
           j·R + R − 1 < m, plus m − 1 for a partial window; s_0 = embed_in output, s_i = output of
           layer i−1 (i < L), s_L = final_layer_norm output;
  decoder: inputs_embeds = [E·s_0 (P rows); embed_in(tokens)]; after layer i the memory rows get
           + A_i·s_{i+1}; logits of every row.
Loss: Σ over samples and tokens t with weight w_t > 0 of w_t · CE(logits[P + t − 1], tokens[t]),
divided by Σ w_t (the row before token t predicts it; for t = 0 that is the last memory row).

Output (default tests/fixtures/train/):
  tiny-rcc/                 config.json, rcc.json (W 16, R 4, aligned, f32 memory), model.safetensors
  expected.safetensors      sample{b}.context I32 [n], sample{b}.tokens I32 [T], sample{b}.weights F32
                            [T], logits.{b} F32 [P_b + T_b, V], loss F64 [1], grad.<name> F32,
                            step_losses F64 [11] (loss before each of 10 steps, then after the last),
                            final.<name> F32 (parameters after the 10 steps)
  expected.json             hyper-parameters, versions, self-check results

Run from the repository root on a machine with PyTorch and transformers:
  python3 tests/reference/make_training_fixtures.py
"""
import argparse
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (hub_names, layer_params, make_config, make_model, memory_names, save_json,  # noqa: E402
                    spec_layer)

W, R = 16, 4
CFG = dict(vocab=96, hidden=32, layers=2, heads=4, inter=64, rot=0.25, parallel=True)
SEED = 21
# AdamW (torch.optim.AdamW) with decoupled weight decay on tensors of 2+ dimensions only, gradient
# clipping by global norm (torch.nn.utils.clip_grad_norm_) before every step, constant lr.
OPT = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0, steps=10)
ENC = "gpt_neox.rcc_encoder."


def aligned_windows(ids):
    """docs/spec.md §2.4 aligned mode: windows from token 0, the last may be partial; its slots."""
    out = []
    for s in range(0, len(ids), W):
        w = ids[s:s + W]
        m = len(w)
        pos = list(range(R - 1, m, R)) + ([m - 1] if m % R else [])
        out.append((w, pos))
    return out


def make_batch(g):
    """Three samples: a context of 37 tokens (windows 16, 16, 5 → 4 + 4 + 2 slots) with a masked cue;
    a context of exactly one window (4 slots) with every token weighted (token 0 is predicted by the
    last memory row); a plain language-model sample (no context)."""
    V = CFG["vocab"]
    rnd = lambda n: torch.randint(2, V, (n,), generator=g).tolist()
    return [
        dict(context=rnd(37), tokens=rnd(12), weights=[0.0] * 3 + [1.0] * 9),
        dict(context=rnd(16), tokens=rnd(8), weights=[1.0] * 8),
        dict(context=[], tokens=rnd(10), weights=[0.0] + [1.0] * 9),
    ]


def encoder_states(enc, window):
    """[T, L+1, H] with autograd: s_0 = embeddings, s_i = output of layer i-1, s_L =
    final_layer_norm(output of the last layer), each captured from the HF module that computes it."""
    rec = {}
    hooks = [enc.gpt_neox.embed_in.register_forward_hook(lambda m, a, o: rec.__setitem__("emb", o))]
    for i, layer in enumerate(enc.gpt_neox.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, a, o, i=i: rec.__setitem__(i, o[0] if isinstance(o, tuple) else o)))
    hooks.append(enc.gpt_neox.final_layer_norm.register_forward_hook(
        lambda m, a, o: rec.__setitem__("final", o)))
    enc(input_ids=torch.tensor([window]), use_cache=False)
    for h in hooks:
        h.remove()
    L = enc.config.num_hidden_layers
    states = [rec["emb"][0]] + [rec[i][0] for i in range(L - 1)] + [rec["final"][0]]
    return torch.stack(states, 1)


def memory_of(enc, context):
    """[P, L+1, H] (P = 0 for an empty context)."""
    if not context:
        return torch.zeros(0, CFG["layers"] + 1, CFG["hidden"])
    return torch.cat([encoder_states(enc, w)[pos] for w, pos in aligned_windows(context)], 0)


def decoder_logits(dec, E, A, memory, tokens):
    """§3: x[0:P] = E s_0, x[P:] = embed_in(tokens); after layer i, x[0:P] += A_i s_{i+1}."""
    P = memory.shape[0]
    emb = dec.gpt_neox.embed_in(torch.tensor(tokens))
    x = (torch.cat([memory[:, 0] @ E.T, emb], 0) if P else emb)[None]
    hooks = []
    if P:
        for i, layer in enumerate(dec.gpt_neox.layers):
            def hook(m, a, o, i=i):
                h = o[0] if isinstance(o, tuple) else o
                h = torch.cat([h[:, :P] + (memory[:, i + 1] @ A[i].T)[None], h[:, P:]], 1)
                return (h,) + tuple(o[1:]) if isinstance(o, tuple) else h
            hooks.append(layer.register_forward_hook(hook))
    logits = dec(inputs_embeds=x, use_cache=False).logits[0]
    for h in hooks:
        h.remove()
    return logits


def spec_decoder_logits(params, cfg, memory, tokens):
    """Independent transcription of §3 (cross-check of the hook-based HF computation)."""
    P, L = memory.shape[0], cfg.num_hidden_layers
    x = params["gpt_neox.embed_in.weight"][torch.tensor(tokens)]
    if P:
        x = torch.cat([memory[:, 0] @ params["gpt_neox.rcc_encoder2gpt_embed.weight"].T, x], 0)
    for i in range(L):
        x = spec_layer(layer_params(params, "", i), x, cfg)
        if P:
            A = params[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"]
            x = torch.cat([x[:P] + memory[:, i + 1] @ A.T, x[P:]], 0)
    x = torch.nn.functional.layer_norm(x, (cfg.hidden_size,), params["gpt_neox.final_layer_norm.weight"],
                                       params["gpt_neox.final_layer_norm.bias"], cfg.layer_norm_eps)
    return x @ params["embed_out.weight"].T


class TinyRCC:
    """Decoder and encoder GPTNeoXForCausalLM, E and A_i as parameters; `params` maps checkpoint
    names (docs/spec.md §5.2) to the trained tensors. The encoder's LM head is never used: not
    trained."""

    def __init__(self, cfg, sd):
        self.dec = transformers.GPTNeoXForCausalLM(cfg).float().eval()
        self.enc = transformers.GPTNeoXForCausalLM(cfg).float().eval()
        self.dec.load_state_dict(memory_names({k: v for k, v in sd.items() if not k.startswith("gpt_neox.rcc")}),
                                 strict=True)
        self.enc.load_state_dict(memory_names({k[len(ENC):]: v for k, v in sd.items() if k.startswith(ENC)}),
                                 strict=True)
        self.E = torch.nn.Parameter(sd["gpt_neox.rcc_encoder2gpt_embed.weight"].clone())
        self.A = [torch.nn.Parameter(sd[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"].clone())
                  for i in range(cfg.num_hidden_layers)]
        self.params = {}
        for k, p in hub_names(dict(self.dec.named_parameters())).items():
            self.params[k] = p
        self.params["gpt_neox.rcc_encoder2gpt_embed.weight"] = self.E
        for i, a in enumerate(self.A):
            self.params[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"] = a
        for k, p in hub_names(dict(self.enc.named_parameters())).items():
            if k == "embed_out.weight":
                p.requires_grad_(False)
                continue
            self.params[ENC + k] = p

    def loss(self, batch, keep_logits=None):
        total, weight = 0.0, 0.0
        for b, s in enumerate(batch):
            memory = memory_of(self.enc, s["context"])
            logits = decoder_logits(self.dec, self.E, self.A, memory, s["tokens"])
            if keep_logits is not None:
                keep_logits.append((memory.detach(), logits.detach()))
            P = memory.shape[0]
            for t, (tok, w) in enumerate(zip(s["tokens"], s["weights"])):
                if w == 0:
                    continue
                assert P + t - 1 >= 0
                ce = torch.nn.functional.cross_entropy(logits[P + t - 1][None], torch.tensor([tok]))
                total = total + w * ce
                weight += w
        return total / weight


def build_state_dict():
    cfg = make_config(CFG["vocab"], CFG["hidden"], CFG["layers"], CFG["heads"], CFG["inter"],
                      CFG["rot"], CFG["parallel"])
    dec = make_model(cfg, SEED)
    enc = make_model(cfg, SEED + 1000)
    g = torch.Generator().manual_seed(SEED + 2000)
    H, L = CFG["hidden"], CFG["layers"]
    sd = hub_names(dict(dec.state_dict()))
    sd["gpt_neox.rcc_encoder2gpt_embed.weight"] = torch.randn(H, H, generator=g) / H ** 0.5
    for i in range(L):
        sd[f"gpt_neox.rcc_encoder2gpt_A_matrix.{i}.weight"] = torch.randn(H, H, generator=g) / H ** 0.5
    for k, v in hub_names(enc.state_dict()).items():
        sd[ENC + k] = v
    sd = {k: v.detach().contiguous() for k, v in sd.items()}
    return cfg, sd


def write_checkpoint(out, sd):
    os.makedirs(out)
    save_json(os.path.join(out, "config.json"), {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
        "vocab_size": CFG["vocab"], "hidden_size": CFG["hidden"],
        "num_hidden_layers": CFG["layers"], "num_attention_heads": CFG["heads"],
        "intermediate_size": CFG["inter"], "hidden_act": "gelu", "rotary_pct": CFG["rot"],
        "rotary_emb_base": 10000, "max_position_embeddings": 2048, "layer_norm_eps": 1e-5,
        "use_parallel_residual": CFG["parallel"], "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"})
    save_json(os.path.join(out, "rcc.json"), {"format": "rcc", "version": 1, "window": W, "ratio": R,
                                               "mode": "aligned", "memory_dtype": "f32"})
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                   "fixtures", "train"))
    args = ap.parse_args()
    torch.manual_seed(0)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    cfg, sd = build_state_dict()
    write_checkpoint(os.path.join(args.out, "tiny-rcc"), sd)
    batch = make_batch(torch.Generator().manual_seed(SEED + 3000))
    out = {}
    for b, s in enumerate(batch):
        out[f"sample{b}.context"] = torch.tensor(s["context"], dtype=torch.int32)
        out[f"sample{b}.tokens"] = torch.tensor(s["tokens"], dtype=torch.int32)
        out[f"sample{b}.weights"] = torch.tensor(s["weights"], dtype=torch.float32)

    # 1. logits, loss and gradients at the initial parameters.
    model = TinyRCC(cfg, sd)
    kept = []
    loss = model.loss(batch, kept)
    loss.backward()
    spec_err = 0.0
    with torch.no_grad():
        plain = {k: p.detach() for k, p in model.params.items()}
        for b, (memory, logits) in enumerate(kept):
            out[f"logits.{b}"] = logits.contiguous()
            spec = spec_decoder_logits(plain, cfg, memory, batch[b]["tokens"])
            spec_err = max(spec_err, ((spec - logits).abs().max() / logits.abs().max()).item())
    out["loss"] = torch.tensor([loss.item()], dtype=torch.float64)
    missing = [k for k, p in model.params.items() if p.grad is None]
    if missing:
        raise SystemExit(f"ERROR: parameters without gradient: {missing}")
    for k, p in model.params.items():
        out["grad." + k] = p.grad.detach().contiguous()

    # 2. 10 AdamW steps from the same initial parameters.
    model = TinyRCC(cfg, sd)
    decay = [p for k, p in model.params.items() if p.dim() >= 2]
    no_decay = [p for k, p in model.params.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPT["lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"],
                            foreach=False)
    losses, norms = [], []
    for _ in range(OPT["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(model.params.values()), OPT["clip"]).item())
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(model.loss(batch).item())
    out["step_losses"] = torch.tensor(losses, dtype=torch.float64)
    for k, p in model.params.items():
        out["final." + k] = p.detach().clone().contiguous()
    save_file(out, os.path.join(args.out, "expected.safetensors"))
    save_json(os.path.join(args.out, "expected.json"), {
        "window": W, "ratio": R, "config": CFG, "optimizer": OPT, "schedule": "constant",
        "decay": "tensors of 2+ dimensions", "loss": "sum of weight * CE / sum of weights",
        "step_losses": losses, "grad_norms_before_clipping": norms, "spec_rel_err": spec_err,
        "slots": [sum(len(p) for _, p in aligned_windows(s["context"])) for s in batch],
        "torch": torch.__version__, "transformers": transformers.__version__})
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} after {OPT['steps']} steps; "
          f"grad norms {norms[0]:.4f} .. {norms[-1]:.4f}; spec rel err {spec_err:.2e}")
    if spec_err > 1e-4:
        raise SystemExit("ERROR: the HF hook computation disagrees with the spec transcription")
    if not losses[-1] < losses[0]:
        raise SystemExit("ERROR: the loss did not decrease")


if __name__ == "__main__":
    main()
