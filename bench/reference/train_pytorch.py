#!/usr/bin/env python3
"""The PyTorch + Hugging Face baseline of bench/gpu_train.sh: training steps of a GPT-NeoX model of
the same shape as an rcc training config, on the same GPU, with the usual mixed-precision recipe
(f32 master weights, bf16 autocast, SDPA attention, fused AdamW, clipping at 1.0).

It trains one network on sequences of `--seq` tokens (the RCC encoder's window), `--tokens` tokens
per step, with a small vocabulary (rcc's bench configs use a word vocabulary, so neither side pays
for a large LM head). Model FLOPs are counted as rcc counts them (src/train/rcc_step.h): matrix
products 2·rows·(4H² + 2HI)·L plus causal attention 2·n²·H·L per sequence, plus the LM head, all
×3 for forward + backward. Prints one JSON line.
"""
import argparse
import json
import time

import torch
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
    cfg = GPTNeoXConfig(vocab_size=a.vocab, hidden_size=mc["hidden_size"],
                        num_hidden_layers=mc["num_hidden_layers"],
                        num_attention_heads=mc["num_attention_heads"],
                        intermediate_size=mc["intermediate_size"], rotary_pct=mc["rotary_pct"],
                        max_position_embeddings=max(a.seq, 2048),
                        use_parallel_residual=mc["use_parallel_residual"], hidden_act="gelu",
                        tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(cfg).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=True)
    batch = max(1, a.tokens // a.seq)
    H, L, I = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    rows = batch * a.seq
    fwd = 2.0 * rows * (4 * H * H + 2 * H * I) * L + batch * 2.0 * a.seq * a.seq * H * L \
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
    print(json.dumps({"side": "pytorch", "config": a.config, "tokens_per_step": rows,
                      "step_s": dt, "tokens_per_s": rows / dt, "tflops": flops / dt / 1e12,
                      "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                      "gpu": torch.cuda.get_device_name(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
