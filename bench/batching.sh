#!/usr/bin/env bash
# Batched decoding (bench/results/batching.md): `rcc bench-batch` at 1, 4, 16 and 64 sequences
# decoding together, each after a memory prefix of MEMORY positions — one prefix shared by all
# ("shared") and one copy per sequence ("own") — with a 16-token prompt and 32 decoded tokens each;
# batch 1 is measured in the same command. On the CPU (DEVICE=cpu): the bundled model's decoder
# shape and Pythia-160m, f32, MEMORY 1024; with LLAMA_CPP_DIR set, llama.cpp's llama-batched-bench
# runs beside it on GGUF files of the same shapes (bench/llamacpp_batched.sh, prompt MEMORY + 16,
# shared and not). On a GPU (DEVICE=cuda): Pythia-1.4b, bf16, MEMORY 4000 (a 128k-token memory at
# ratio 32). Prints one JSON line per point, then a table with the ratio to batch 1.
# Usage: bench/batching.sh [results.jsonl]   Environment: RCC (build/rcc), DEVICE, SHAPES, MEMORY,
# BATCH (1,4,16,64), DECODE (33: the first token comes from the prompt pass), LLAMA_CPP_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
RCC=${RCC:-build/rcc}
DEVICE=${DEVICE:-cpu}
OUT=${1:-$(mktemp)}
if [ "$DEVICE" = cpu ]; then
  SHAPES=${SHAPES:-rcc-tiny 160m}; MEMORY=${MEMORY:-1024}
else
  SHAPES=${SHAPES:-1.4b}; MEMORY=${MEMORY:-4000}
fi
BATCH=${BATCH:-1,4,16,64}; DECODE=${DECODE:-33}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: > "$OUT"
for s in $SHAPES; do
  "$RCC" bench-batch --device "$DEVICE" --shape "$s" --memory "$MEMORY" --prompt 16 \
    --decode "$DECODE" --batch "$BATCH" --memories shared,own >> "$OUT"
done
if [ -n "${LLAMA_CPP_DIR:-}" ] && [ "$DEVICE" = cpu ]; then
  # The GGUF shapes of bench/llamacpp_batched.sh: tiny = the bundled model's decoder, 160m.
  PROMPT=$((MEMORY + 16)) GEN=$((DECODE - 1)) NPL="$BATCH" KV_TYPE=f32 \
    bench/llamacpp_batched.sh "$OUT.llamacpp" > /dev/null
fi
python3 - "$OUT" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {(r["shape"], r["memories"]): r for r in rows if r["batch"] == 1}
print("| shape | memories | sequences | decode tok/s | × batch 1 | ms per step | × batch 1 | prefix MiB | tails MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    b = base[(r["shape"], r["memories"])]
    print(f"| {r['shape']} | {r['memories']} | {r['batch']} | {r['decode_tokens_per_s']:.1f} | "
          f"{r['decode_tokens_per_s'] / b['decode_tokens_per_s']:.2f} | {1e3 * r['seconds_per_step']:.2f} | "
          f"{r['seconds_per_step'] / b['seconds_per_step']:.2f} | {r['prefix_bytes'] / 2**20:.0f} | "
          f"{r['tail_bytes'] / 2**20:.1f} |")
ll = sys.argv[1] + ".llamacpp"
if os.path.exists(ll):
    print()
    print("llama.cpp llama-batched-bench (same shapes, f32):")
    for l in open(ll):
        if l.strip():
            print(l.strip())
PY
