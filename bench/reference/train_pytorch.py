#!/usr/bin/env python3
"""The PyTorch + Hugging Face baseline of bench/gpu_train.sh: training steps of a model of the same
family and shape as an rcc training config (GPT-NeoX, or Qwen3 / Llama for `model_type` qwen3 /
llama), on the same GPU, with the usual mixed-precision recipe
(f32 master weights, bf16 autocast, SDPA attention, fused AdamW, clipping at 1.0).

It trains one network on sequences of `--seq` tokens (the RCC encoder's window), `--tokens` tokens
per step, with a small vocabulary (rcc's bench configs use a word vocabulary, so neither side pays
for a large LM head). Model FLOPs are counted as rcc counts them (src/train/rcc_step.cpp): matrix
products 2·rows·(H·QKV + H·Q + H·M + I·H)·L (GPT-NeoX: 4H² + 2HI) plus causal attention
2·n²·Q·L per sequence, plus the LM head, all ×3 for forward + backward. Prints one JSON line.
"""
import argparse
import json
import time

import torch
import transformers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="an rcc training config (model.config is used)")
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--tokens", type=int, default=32768, help="tokens per step")
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    mc = json.load(open(a.config))["model"]["config"]
    family = mc.get("model_type", "gpt_neox")
    H, L, I = mc["hidden_size"], mc["num_hidden_layers"], mc["intermediate_size"]
    heads = mc["num_attention_heads"]
    if family == "gpt_neox":
        cfg = GPTNeoXConfig(vocab_size=a.vocab, hidden_size=H, num_hidden_layers=L,
                            num_attention_heads=heads, intermediate_size=I,
                            rotary_pct=mc["rotary_pct"], max_position_embeddings=max(a.seq, 2048),
                            use_parallel_residual=mc["use_parallel_residual"], hidden_act="gelu",
                            tie_word_embeddings=False, attn_implementation="sdpa")
        cls = GPTNeoXForCausalLM
        q, qkv, m = H, 3 * H, I
    else:
        kv, hd = mc.get("num_key_value_heads", heads), mc.get("head_dim", H // heads)
        cfg_cls, cls = {"qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
                        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM)}[family]
        cfg = cfg_cls(vocab_size=a.vocab, hidden_size=H, num_hidden_layers=L,
                      num_attention_heads=heads, num_key_value_heads=kv, head_dim=hd,
                      intermediate_size=I, max_position_embeddings=max(a.seq, 4096),
                      hidden_act="silu", tie_word_embeddings=False, attn_implementation="sdpa")
        q, qkv, m = heads * hd, (heads + 2 * kv) * hd, 2 * I
    torch.manual_seed(0)
    model = cls(cfg).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=True)
    batch = max(1, a.tokens // a.seq)
    rows = batch * a.seq
    fwd = 2.0 * rows * (H * qkv + H * q + H * m + I * H) * L + batch * 2.0 * a.seq * a.seq * q * L \
        + 2.0 * rows * H * a.vocab
    flops = 3 * fwd
    ids = torch.randint(0, a.vocab, (batch, a.seq), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"side": "pytorch", "config": a.config, "family": family,
                      "tokens_per_step": rows,
                      "step_s": dt, "tokens_per_s": rows / dt, "tflops": flops / dt / 1e12,
                      "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                      "gpu": torch.cuda.get_device_name(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
