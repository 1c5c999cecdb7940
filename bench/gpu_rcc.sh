#!/usr/bin/env bash
# The GPU benchmark of the CUDA backend against the reference stack, in one command on one card:
#   1. bench/reference/rcc_pytorch.py (PyTorch + transformers, bf16, SDPA) makes Pythia-1.4b-shaped
#      random weights, writes them in rcc's layout (so both run the very same model), and times the
#      RCC pipeline (§2–§3: encoder windows, slots, decoder prefill with injection, 32 greedy tokens)
#      and plain generation;
#   2. rcc bench-context --device cuda times the same pipeline (windows streamed into the decoder
#      prefill) and plain generation on those weights, each length twice (the second is reported),
#      once per encoder precision of PRECISIONS (bf16, fp8: spec §2.8);
#   3. the encoder alone at ENCODE_TOKENS, per precision (its FLOP rate), and the FP8 encoder's
#      slot error against bf16 per level at SLOT_TOKENS.
# Output: JSON lines in $OUT_DIR (default /tmp/rcc-gpu-rcc: outside the repository) and tables on
# stdout. Results: bench/results/gpu_cuda.md, bench/results/gpu_fp8.md.
# Usage on a GPU host: bench/gpu_rcc.sh   (TOKENS=..., PLAIN_TOKENS=..., KV8_TOKENS=...,
# ENCODE_TOKENS=..., PRECISIONS=..., SLOT_TOKENS=... to change them; an empty list skips its runs;
# ~10 minutes on an H100 with the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-/tmp/rcc-gpu-rcc}
MODEL_DIR=${MODEL_DIR:-/tmp/rcc-pythia-1.4b-random}
TOKENS=${TOKENS-8192,131072,1048576,4194304}
PLAIN_TOKENS=${PLAIN_TOKENS-8192,131072,262144}
KV8_TOKENS=${KV8_TOKENS-1048576,4194304}
ENCODE_TOKENS=${ENCODE_TOKENS-1048576,4194304}
PRECISIONS=${PRECISIONS-bf16,fp8}
SLOT_TOKENS=${SLOT_TOKENS-65536}
source bench/gpu_env.sh  # RCC: the rcc binary
mkdir -p "$OUT_DIR"
python3 bench/reference/rcc_pytorch.py --tokens "$TOKENS" --plain-tokens "$PLAIN_TOKENS" \
  --save-model "$MODEL_DIR" | tee "$OUT_DIR/reference.jsonl"
ctx() { "$RCC" bench-context --model "$MODEL_DIR" --device cuda --quiet "$@"; }
for p in ${PRECISIONS//,/ }; do
  sfx=$([ "$p" = bf16 ] && echo "" || echo "_$p")  # bf16 keeps the files' earlier names
  [ -n "$TOKENS" ] && ctx --kind rcc-ask --tokens "$TOKENS" --new-tokens 32 --repeat 2 \
    --encoder-precision "$p" | tee "$OUT_DIR/rcc_cuda$sfx.jsonl"
  # The encoder alone (its model FLOP rate against the card's cuBLAS rate).
  [ -n "$ENCODE_TOKENS" ] && ctx --kind encode --tokens "$ENCODE_TOKENS" --repeat 2 \
    --encoder-precision "$p" | tee "$OUT_DIR/encode_cuda$sfx.jsonl"
done
[ -n "$KV8_TOKENS" ] && ctx --kind rcc-ask --tokens "$KV8_TOKENS" --new-tokens 32 --repeat 2 \
  --kv-8bit | tee "$OUT_DIR/rcc_cuda_kv8.jsonl"
# Plain generation: one warm-up length first, then each length once (the long ones take minutes).
[ -n "$PLAIN_TOKENS" ] && ctx --kind plain-generate --tokens "2048,$PLAIN_TOKENS" \
  --new-tokens 32 | tee "$OUT_DIR/plain_cuda.jsonl"
[ -n "$SLOT_TOKENS" ] && [[ ",$PRECISIONS," == *",fp8,"* ]] &&
  ctx --kind slot-error --tokens "$SLOT_TOKENS" | tee "$OUT_DIR/slot_error.jsonl"
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
ours = {"rcc": last("rcc_cuda.jsonl"), "rcc-fp8": last("rcc_cuda_fp8.jsonl"),
        "rcc-kv8": last("rcc_cuda_kv8.jsonl"), "plain": last("plain_cuda.jsonl")}
enc = {p: last(f"encode_cuda{'' if p == 'bf16' else '_' + p}.jsonl") for p in ("bf16", "fp8")}
if enc["bf16"] or enc["fp8"]:
    print("| encoder alone | tokens | s | TFLOP/s run | TFLOP/s (last layer on every row) | GiB | vs bf16 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for p in ("bf16", "fp8"):
        for n, r in sorted(enc[p].items()):
            b = enc["bf16"].get(n, {})
            sp = f"{b['seconds'] / r['seconds']:.2f}x" if "seconds" in b and "seconds" in r else "-"
            print(f"| {p} | {n} | {r['seconds']:.2f} | {r['encoder_gflop'] / r['seconds'] / 1e3:.0f} | "
                  f"{r['encoder_gflop_all_rows'] / r['seconds'] / 1e3:.0f} | "
                  f"{r.get('peak_device_gib', 0):.2f} | {sp} |")
for r in rows("slot_error.jsonl"):
    print(f"fp8 vs bf16 slot error, {r['tokens']} tokens: all levels {r['rel_error']:.4f}; per level "
          + " ".join(f"{e:.4f}" for e in r["level_rel_error"]))
print("| pipeline | tokens | reference s | reference GiB | rcc s | rcc GiB | speed-up |")
print("|---|---:|---:|---:|---:|---:|---:|")
for kind in ("rcc", "rcc-fp8", "rcc-kv8", "plain"):
    for n, r in sorted(ours[kind].items()):
        f = ref.get(("rcc" if kind.startswith("rcc") else "plain", n), {})
        rs = "OOM" if f.get("oom") else f"{f['seconds']:.2f}" if "seconds" in f else "-"
        rg = "-" if "peak_gib" not in f else f"{f['peak_gib']:.1f}"
        s = "OOM" if r.get("oom") else f"{r['seconds']:.2f}"
        g = f"{r.get('peak_device_gib', 0):.1f}"
        sp = f"{f['seconds'] / r['seconds']:.2f}x" if "seconds" in f and "seconds" in r else "-"
        print(f"| {kind} | {n} | {rs} | {rg} | {s} | {g} | {sp} |")
PY
