#!/usr/bin/env bash
# The RCC memory curve on this CPU: compression throughput and peak RSS against context length for a
# small random RCC model, beside plain GPT-NeoX prefill of the same contexts (same shape and weights
# recipe) as long as that stays practical. Each point runs in its own process (own peak RSS).
# Usage: bench/context_curve.sh [results.md]   (needs build/rcc; see scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results/context_curve.md}"
SHAPE=(--hidden "${HIDDEN:-128}" --layers "${LAYERS:-4}" --heads "${HEADS:-4}")
RCC_LENGTHS="${RCC_LENGTHS:-8192 32768 131072 1048576}"
PLAIN_LENGTHS="${PLAIN_LENGTHS:-8192 16384 32768}"
tmp=$(mktemp)
for n in $RCC_LENGTHS; do
  echo "rcc compress $n tokens..." >&2
  build/rcc bench-context --kind rcc --tokens "$n" "${SHAPE[@]}" >> "$tmp"
done
for n in $PLAIN_LENGTHS; do
  echo "plain prefill $n tokens..." >&2
  build/rcc bench-context --kind plain --tokens "$n" "${SHAPE[@]}" --chunk 2048 >> "$tmp"
done
{
  echo "# RCC memory curve on the CPU"
  echo
  echo "- date: $(date -u +%Y-%m-%d)"
  echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "- command: \`bench/context_curve.sh\` (shape: ${SHAPE[*]}, vocab 50304, W 2048, R 32, f32 weights, bf16 memory)"
  echo
  echo "| kind | tokens | seconds | tokens/s | peak RSS (MiB) | memory / KV (MiB) |"
  echo "|---|---:|---:|---:|---:|---:|"
  python3 - "$tmp" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    extra = j.get("memory_mib", j.get("kv_cache_mib", 0))
    print(f"| {j['kind']} | {j['tokens']} | {j['seconds']:.1f} | {j['tokens_per_s']:.0f} | {j['peak_rss_mib']:.0f} | {extra:.1f} |")
PY
} > "$OUT"
rm -f "$tmp"
cat "$OUT"
