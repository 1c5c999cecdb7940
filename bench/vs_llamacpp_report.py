#!/usr/bin/env python3
"""Markdown page from the JSON lines of bench/vs_llamacpp.sh: rcc and llama.cpp side by side per
(shape, precision, threads), best of the rounds, with each figure's share of its floor."""
import argparse
import json
from collections import defaultdict


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    for k in ("machine", "command", "llama", "rcc"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--prompt", type=int, required=True)
    ap.add_argument("--gen", type=int, required=True)
    ap.add_argument("--enc-tokens", type=int, required=True)
    a = ap.parse_args()

    rows = [json.loads(line) for line in open(a.raw) if line.strip()]
    best = defaultdict(lambda: defaultdict(float))  # (shape, dtype, threads) -> metric -> best
    floors = defaultdict(lambda: defaultdict(float))
    kernels = ""
    for r in rows:
        if r["who"] == "rcc":
            m = r["models"][0]
            key = (m["shape"], r["dtype"], r["threads"])
            b = best[key]
            b["rcc_pp"] = max(b["rcc_pp"], m["prefill_tokens_per_s"])
            b["rcc_tg"] = max(b["rcc_tg"], m["decode_tokens_per_s"])
            b["bytes"] = m["decode_bytes_per_token"]
            mach = r.get("machine", {})
            f = floors[r["threads"]]
            f["read_gbps"] = max(f["read_gbps"], mach.get("read_gbps", 0))
            f["fma_gflops"] = max(f["fma_gflops"], mach.get("fma_gflops", 0))
            b["flops"] = m["prefill_gflops"] * 1e9 / m["prefill_tokens_per_s"]
            kernels = r.get("kernels", kernels)
        elif r["who"] == "llama":
            b = best[(r["shape"], r["dtype"], r["threads"])]
            for t in r["tests"]:
                if t["n_prompt"] > 0 and t["n_gen"] == 0:
                    b["ll_pp"] = max(b["ll_pp"], t["avg_ts"])
                if t["n_gen"] > 0 and t["n_prompt"] == 0:
                    b["ll_tg"] = max(b["ll_tg"], t["avg_ts"])
        else:
            key = ("encoder", r["dtype"], r["threads"])
            who = "rcc_enc" if r["who"] == "rcc-encoder" else "ll_enc"
            best[key][who] = max(best[key][who], r["tokens_per_s"])

    names = {"f32": ("f32", "F32"), "bf16": ("bf16", "BF16"), "q8": ("q8", "Q8_0")}
    out = []
    out.append("# rcc against llama.cpp on the CPU\n")
    out.append("What: prefill, decode and RCC-encoder speed of rcc and llama.cpp on the same GPT-NeoX "
               "shapes with random weights, at equal precision, run alternately in one command; "
               "each figure with its share of the machine's floor measured in the same run.\n")
    out.append(f"- machine: {a.machine}")
    out.append(f"- rcc {a.rcc}, CPU kernels: {kernels}")
    out.append(f"- llama.cpp {a.llama} (llama-bench, built with GGML_NATIVE)")
    out.append(f"- command: `{a.command}`")
    out.append(f"- prefill: {a.prompt} tokens in one pass (llama-bench pp{a.prompt}); decode: {a.gen} "
               f"tokens after a 1-token prompt (llama-bench tg{a.gen}); best of the rounds")
    out.append("- floors: decode = measured read bandwidth / bytes per token (weights and KV cache); "
               "prefill = measured f32 FMA peak / weight flops per token. Beyond 100% of the prefill "
               "floor means bf16 pair products (twice the f32 rate) or int8.\n")
    for t in sorted(floors):
        f = floors[t]
        out.append(f"- {t} thread(s): read bandwidth {f['read_gbps']:.1f} GB/s, f32 FMA peak "
                   f"{f['fma_gflops']:.0f} GFLOP/s")
    out.append("")
    out.append("| shape | precision (rcc / llama.cpp) | threads | prefill tok/s rcc / llama.cpp | ratio "
               "| rcc % of floor | decode tok/s rcc / llama.cpp | ratio | rcc / llama.cpp % of floor |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(k for k in best if k[0] != "encoder"):
        shape, dt, t = key
        b = best[key]
        f = floors[t]
        pp_floor = f["fma_gflops"] * 1e9 / b["flops"] if b["flops"] else 0
        tg_floor = f["read_gbps"] * 1e9 / b["bytes"] if b["bytes"] else 0
        pr = b["rcc_pp"] / b["ll_pp"] if b["ll_pp"] else float("nan")
        tr = b["rcc_tg"] / b["ll_tg"] if b["ll_tg"] else float("nan")
        out.append(
            f"| {shape} | {names[dt][0]} / {names[dt][1]} | {t} | {b['rcc_pp']:.1f} / {b['ll_pp']:.1f} | "
            f"**{pr:.2f}x** | {100 * b['rcc_pp'] / pp_floor:.0f}% | {b['rcc_tg']:.1f} / {b['ll_tg']:.1f} | "
            f"**{tr:.2f}x** | {100 * b['rcc_tg'] / tg_floor:.0f}% / {100 * b['ll_tg'] / tg_floor:.0f}% |")
    enc = sorted(k for k in best if k[0] == "encoder")
    if enc:
        out.append("")
        out.append(f"RCC encoder (Pythia-160m shape, windows of 2048): `rcc compress` of "
                   f"{a.enc_tokens} tokens against llama-bench pp2048.\n")
        out.append("| precision (rcc / llama.cpp) | threads | rcc compress tok/s | llama.cpp pp2048 tok/s | ratio |")
        out.append("|---|---:|---:|---:|---:|")
        for key in enc:
            _, dt, t = key
            b = best[key]
            r = b["rcc_enc"] / b["ll_enc"] if b["ll_enc"] else float("nan")
            out.append(f"| {names[dt][0]} / {names[dt][1]} | {t} | {b['rcc_enc']:.1f} | {b['ll_enc']:.1f} | **{r:.2f}x** |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
