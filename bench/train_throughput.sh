#!/usr/bin/env bash
# CPU training throughput of `rcc train` on three RCC shapes (random init, passkey data with the
# word-level vocabulary, so the numbers measure the networks and not data loading), beside
# OpenBLAS's own threaded sgemm measured in the same run as the baseline. Each shape trains for
# STEPS steps; the first LOG window is discarded as warm-up (tokens/s and GFLOP/s are taken from the
# last logged window).
# Usage: bench/train_throughput.sh [results.md]   (RCC=build/rcc THREADS=$(nproc) STEPS=30 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results/training_cpu.md}"
RCC="${RCC:-build/rcc}"
THREADS="${THREADS:-$(nproc)}"
STEPS="${STEPS:-30}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name hidden layers heads inter window ratio batch context_min context_max
SHAPES=(
  "ci-passkey 64 2 4 256 32 4 16 32 192"
  "small 256 4 4 1024 256 32 4 512 1024"
  "pythia-70m-like 512 6 8 2048 512 32 2 1024 2048"
)
rows=""
for s in "${SHAPES[@]}"; do
  read -r name H L NH I W R B CMIN CMAX <<<"$s"
  cat > "$tmp/$name.json" <<JSON
{"model": {"init": "random",
  "config": {"hidden_size": $H, "num_hidden_layers": $L, "num_attention_heads": $NH,
             "intermediate_size": $I, "rotary_pct": 0.25},
  "rcc": {"window": $W, "ratio": $R, "mode": "aligned", "memory_dtype": "f32"}},
 "tasks": [{"kind": "passkey", "min_tokens": $CMIN, "max_tokens": $CMAX}],
 "train": {"steps": $STEPS, "batch_size": $B, "lr": 1e-4, "log_every": $((STEPS / 3)),
           "eval_samples": 0, "threads": $THREADS}}
JSON
  echo "training $name ..." >&2
  "$RCC" train --config "$tmp/$name.json" --out "$tmp/$name" --quiet > "$tmp/$name.summary"
  last=$(grep '"loss"' "$tmp/$name/log.jsonl" | tail -1)
  tps=$(echo "$last" | sed -E 's/.*"tokens_per_s":([0-9.e+]+).*/\1/')
  gf=$(echo "$last" | sed -E 's/.*"gflops":([0-9.e+]+).*/\1/')
  params=$("$RCC" info --model "$tmp/$name/model" --json 2>/dev/null |
           sed -E 's/.*"parameters":([0-9]+).*/\1/' || echo "?")
  rows+="| $name | H $H, L $L, I $I, W $W, R $R | $params | $B | $CMIN–$CMAX | $(printf '%.0f' "$tps") | $(printf '%.1f' "$gf") |"$'\n'
  echo "$name: $tps tokens/s, $gf GFLOP/s" >&2
done
gemm=$("$RCC" bench --gemm 512,2048,512 --threads "$THREADS" --shapes "" 2>&1 >/dev/null | grep gemm)

{
  echo "# CPU training throughput"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads; $(date -u +%Y-%m-%d)."
  echo "Command: \`THREADS=$THREADS STEPS=$STEPS bench/train_throughput.sh\`"
  echo
  echo "tokens/s counts encoder tokens plus decoder rows (memory slots and decoder tokens) per"
  echo "second of optimizer steps (forward, backward, AdamW); GFLOP/s are model FLOPs (2 per"
  echo "multiply-add of every matrix product and causal attention, ×3 for the backward; the"
  echo "attention backward's recomputation is not counted), as the trainer logs them."
  echo
  echo "| shape | model | parameters per network | batch | context tokens | tokens/s | GFLOP/s |"
  echo "|---|---|---|---|---|---|---|"
  printf "%s" "$rows"
  echo
  echo "Baseline in the same run (rcc bench --gemm 512,2048,512):"
  echo
  echo '```'
  echo "$gemm"
  echo '```'
} > "$OUT"
echo "wrote $OUT" >&2
