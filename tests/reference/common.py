"""Helpers shared by the fixture scripts: tiny GPT-NeoX models built with Hugging Face transformers,
Pythia-style config.json files, and an independent PyTorch transcription of docs/spec.md §1, used
only to cross-check that the Hugging Face configuration means what we intend (same rotary fraction,
residual style, ...). The fixtures themselves always come from Hugging Face's GPTNeoXForCausalLM."""
import json
import math

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM


def make_config(vocab, hidden, layers, heads, inter, rotary_pct, parallel, base=10000.0,
                max_pos=4096):
    cfg = GPTNeoXConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=inter, rotary_pct=rotary_pct,
        rotary_emb_base=base, use_parallel_residual=parallel, max_position_embeddings=max_pos,
        layer_norm_eps=1e-5, hidden_act="gelu", tie_word_embeddings=False, bos_token_id=0,
        eos_token_id=0, attention_bias=True)
    # transformers v5 keeps rotary settings in rope_parameters; make every spelling agree.
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict):
        rp["partial_rotary_factor"] = rotary_pct
        rp["rope_theta"] = base
    for k, v in (("rotary_pct", rotary_pct), ("partial_rotary_factor", rotary_pct),
                 ("rotary_emb_base", base), ("rope_theta", base)):
        try:
            setattr(cfg, k, v)
        except Exception:
            pass
    cfg._attn_implementation = "eager"
    return cfg


def make_model(cfg, seed, std=0.15):
    """A GPTNeoXForCausalLM with every parameter random and non-trivial (layer norms too)."""
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
                else:
                    p.copy_(0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(std * torch.randn_like(p))
    return model


def pythia_config_json(cfg, dtype):
    """config.json as the Pythia checkpoints spell it."""
    return {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "intermediate_size": cfg.intermediate_size, "hidden_act": "gelu",
        "rotary_pct": rotary_pct_of(cfg), "rotary_emb_base": rotary_base_of(cfg),
        "max_position_embeddings": cfg.max_position_embeddings,
        "layer_norm_eps": cfg.layer_norm_eps, "use_parallel_residual": cfg.use_parallel_residual,
        "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0,
        "initializer_range": 0.02, "use_cache": True, "torch_dtype": dtype,
    }


def rotary_pct_of(cfg):
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict) and "partial_rotary_factor" in rp:
        return rp["partial_rotary_factor"]
    return getattr(cfg, "rotary_pct", getattr(cfg, "partial_rotary_factor", None))


def rotary_base_of(cfg):
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict) and "rope_theta" in rp:
        return rp["rope_theta"]
    return getattr(cfg, "rotary_emb_base", getattr(cfg, "rope_theta", None))


# ---- independent transcription of docs/spec.md §1 (cross-check only) -----------------------------

def spec_layer(p, x, cfg, pos0=0):
    H, nh = cfg.hidden_size, cfg.num_attention_heads
    hd = H // nh
    rot = int(hd * rotary_pct_of(cfg))
    T = x.shape[0]
    ln = lambda t, w, b: torch.nn.functional.layer_norm(t, (H,), w, b, cfg.layer_norm_eps)
    h = ln(x, p["input_layernorm.weight"], p["input_layernorm.bias"])
    qkv = h @ p["attention.query_key_value.weight"].T + p["attention.query_key_value.bias"]
    qkv = qkv.view(T, nh, 3 * hd)
    q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
    if rot > 0:
        inv = 1.0 / (rotary_base_of(cfg) ** (torch.arange(0, rot, 2, dtype=torch.float32) / rot))
        ang = torch.arange(pos0, pos0 + T, dtype=torch.float32)[:, None] * inv[None, :]
        c, s = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :], torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]

        def rope(t):
            r, rest = t[..., :rot], t[..., rot:]
            r1, r2 = r[..., :rot // 2], r[..., rot // 2:]
            return torch.cat([r * c + torch.cat([-r2, r1], -1) * s, rest], -1)
        q, k = rope(q), rope(k)
    att = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
    att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
    a = torch.einsum("hqk,khd->qhd", att, v).reshape(T, H)
    a = a @ p["attention.dense.weight"].T + p["attention.dense.bias"]
    mlp = lambda t: torch.nn.functional.gelu(
        t @ p["mlp.dense_h_to_4h.weight"].T + p["mlp.dense_h_to_4h.bias"]) @ p["mlp.dense_4h_to_h.weight"].T + p["mlp.dense_4h_to_h.bias"]
    if cfg.use_parallel_residual:
        return x + a + mlp(ln(x, p["post_attention_layernorm.weight"], p["post_attention_layernorm.bias"]))
    x = x + a
    return x + mlp(ln(x, p["post_attention_layernorm.weight"], p["post_attention_layernorm.bias"]))


def layer_params(sd, prefix, i):
    pre = f"{prefix}gpt_neox.layers.{i}."
    return {k[len(pre):]: v.float() for k, v in sd.items() if k.startswith(pre)}


def hub_names(sd):
    """transformers v5 calls the head `lm_head` in memory and writes it as `embed_out` (as Pythia's
    files do); checkpoints use the file names."""
    return {("embed_out.weight" if k == "lm_head.weight" else k): v for k, v in sd.items()}


def memory_names(sd):
    return {("lm_head.weight" if k == "embed_out.weight" else k): v for k, v in sd.items()}


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
