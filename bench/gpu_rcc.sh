#!/usr/bin/env bash
# The GPU benchmark of the CUDA backend against the reference stack, in one command on one card:
#   1. bench/reference/rcc_pytorch.py (PyTorch + transformers, bf16, SDPA) makes Pythia-1.4b-shaped
#      random weights, writes them in rcc's layout (so both run the very same model), and times the
#      RCC pipeline (§2–§3: encoder windows, slots, decoder prefill with injection, 32 greedy tokens)
#      and plain generation;
#   2. rcc bench-context --device cuda times the same pipeline (windows streamed into the decoder
#      prefill) and plain generation on those weights, each length twice (the second is reported).
# Output: JSON lines in $OUT_DIR (default /tmp/rcc-gpu-rcc: outside the repository) and a table on
# stdout. Results: bench/results/gpu_cuda.md.
# Usage on a GPU host: bench/gpu_rcc.sh   (TOKENS=..., PLAIN_TOKENS=..., KV8_TOKENS=... to change
# the lengths; ~8 minutes on an H200 with the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-/tmp/rcc-gpu-rcc}
MODEL_DIR=${MODEL_DIR:-/tmp/rcc-pythia-1.4b-random}
TOKENS=${TOKENS:-8192,131072,1048576,4194304}
PLAIN_TOKENS=${PLAIN_TOKENS:-8192,131072,262144}
KV8_TOKENS=${KV8_TOKENS:-1048576,4194304}
source bench/gpu_env.sh  # RCC: the rcc binary
mkdir -p "$OUT_DIR"
python3 bench/reference/rcc_pytorch.py --tokens "$TOKENS" --plain-tokens "$PLAIN_TOKENS" \
  --save-model "$MODEL_DIR" | tee "$OUT_DIR/reference.jsonl"
"$RCC" bench-context --kind rcc-ask --model "$MODEL_DIR" --device cuda --tokens "$TOKENS" \
  --new-tokens 32 --repeat 2 | tee "$OUT_DIR/rcc_cuda.jsonl"
"$RCC" bench-context --kind rcc-ask --model "$MODEL_DIR" --device cuda --tokens "$KV8_TOKENS" \
  --new-tokens 32 --repeat 2 --kv-8bit | tee "$OUT_DIR/rcc_cuda_kv8.jsonl"
# Plain generation: one warm-up length first, then each length once (the long ones take minutes).
"$RCC" bench-context --kind plain-generate --model "$MODEL_DIR" --device cuda \
  --tokens "2048,$PLAIN_TOKENS" --new-tokens 32 | tee "$OUT_DIR/plain_cuda.jsonl"
# The encoder alone at 1M tokens (its model FLOP rate against the card's cuBLAS rate).
"$RCC" bench-context --kind encode --model "$MODEL_DIR" --device cuda --tokens 1048576 \
  --repeat 2 | tee "$OUT_DIR/encode_cuda.jsonl"
python3 - "$OUT_DIR" <<'PY'
import json, sys, os
d = sys.argv[1]
def rows(f):
    p = os.path.join(d, f)
    return [json.loads(l) for l in open(p) if l.startswith("{")] if os.path.exists(p) else []
ref = {(r["kind"], r["tokens"]): r for r in rows("reference.jsonl")}
def last(f):
    out = {}
    for r in rows(f):
        out[r["tokens"]] = r  # the later repeat wins
    return out
ours = {"rcc": last("rcc_cuda.jsonl"), "rcc-kv8": last("rcc_cuda_kv8.jsonl"), "plain": last("plain_cuda.jsonl")}
for r in rows("encode_cuda.jsonl")[-1:]:
    print(f"encoder alone, {r['tokens']} tokens: {r['seconds']:.2f} s, "
          f"{r['encoder_gflop'] / r['seconds'] / 1e3:.0f} TFLOP/s of the FLOPs it runs "
          f"({r['encoder_gflop_all_rows'] / r['seconds'] / 1e3:.0f} counting the last layer on every row)")
print("| pipeline | tokens | reference s | reference GiB | rcc s | rcc GiB | speed-up |")
print("|---|---:|---:|---:|---:|---:|---:|")
for kind in ("rcc", "rcc-kv8", "plain"):
    for n, r in sorted(ours[kind].items()):
        f = ref.get(("rcc" if kind.startswith("rcc") else "plain", n), {})
        rs = "OOM" if f.get("oom") else f"{f['seconds']:.2f}" if "seconds" in f else "-"
        rg = "-" if "peak_gib" not in f else f"{f['peak_gib']:.1f}"
        s = "OOM" if r.get("oom") else f"{r['seconds']:.2f}"
        g = f"{r.get('peak_device_gib', 0):.1f}"
        sp = f"{f['seconds'] / r['seconds']:.2f}x" if "seconds" in f and "seconds" in r else "-"
        print(f"| {kind} | {n} | {rs} | {rg} | {s} | {g} | {sp} |")
PY
