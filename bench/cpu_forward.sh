#!/usr/bin/env bash
# GPT-NeoX forward on the CPU: prefill and decode tokens/s for Pythia-shaped random models, and the
# GEMM rate of rcc's linear op beside OpenBLAS's own threaded sgemm, measured in one run.
# Usage: bench/cpu_forward.sh [results.md]   (needs build/rcc; see scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results/cpu_forward.md}"
ARGS=(--shapes "${SHAPES:-160m,1.4b}" --prompt "${PROMPT:-256}" --decode "${DECODE:-16}" --json)
tmp=$(mktemp)
for dt in f32 bf16; do build/rcc bench "${ARGS[@]}" --dtype "$dt" > "$tmp.$dt"; done
{
  echo "# GPT-NeoX forward on the CPU"
  echo
  echo "- date: $(date -u +%Y-%m-%d)"
  echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`bench/cpu_forward.sh\` = \`build/rcc bench ${ARGS[*]} --dtype f32|bf16\`"
  echo "- random weights, f32 compute; prefill = one pass over the prompt + the last row's logits;"
  echo "  decode = per generated token with the KV cache (prefill time subtracted)"
  echo
  python3 - "$tmp" <<'PY'
import json, sys
base = sys.argv[1]
for dt in ("f32", "bf16"):
    j = json.load(open(f"{base}.{dt}"))
    g = j["gemm"]
    if dt == "f32" and "openblas_threaded_gflops" in g:
        print(f"GEMM {g['shape'][0]}x{g['shape'][1]}x{g['shape'][2]} (x·Wᵀ, f32): rcc linear "
              f"{g['rcc_linear_gflops']:.1f} GFLOP/s vs OpenBLAS threaded sgemm {g['openblas_threaded_gflops']:.1f} "
              f"(ratio {g['rcc_linear_gflops']/g['openblas_threaded_gflops']:.2f}); OpenBLAS 2048³ sgemm "
              f"{g['openblas_sgemm_2048_gflops']:.1f} GFLOP/s.")
    elif "openblas_threaded_gflops" in g:
        print(f"rcc linear with bf16 weights (converted per 128-row block): {g['rcc_linear_bf16_gflops']:.1f} GFLOP/s "
              f"(ratio to f32 OpenBLAS threaded: {g['rcc_linear_bf16_gflops']/g['openblas_threaded_gflops']:.2f}).")
    print()
print("| shape | weights | params | prefill tokens | prefill tok/s | prefill GFLOP/s | decode tok/s |")
print("|---|---|---:|---:|---:|---:|---:|")
for dt in ("f32", "bf16"):
    j = json.load(open(f"{base}.{dt}"))
    for m in j["models"]:
        print(f"| {m['shape']} | {dt} | {m['parameters']/1e6:.0f}M | {j['prompt_tokens']} | "
              f"{m['prefill_tokens_per_s']:.1f} | {m['prefill_gflops']:.1f} | {m['decode_tokens_per_s']:.2f} |")
PY
} > "$OUT"
rm -f "$tmp" "$tmp".*
cat "$OUT"
