#!/usr/bin/env bash
# Training throughput on one GPU: `rcc train --device cuda` on bench/configs/train-2x160m.json and
# train-2x410m.json (random RCC models of Pythia-160m and -410m shape: encoder + decoder, windows of
# 2048 tokens, passkey contexts of ~8k tokens), against the PyTorch + Hugging Face baseline run in
# the same command (bench/reference/train_pytorch.py: one GPT-NeoX of the same shape, bf16 autocast,
# SDPA, fused AdamW, the same tokens per step). Model FLOPs utilisation against the card's dense
# bf16 peak (989 TFLOP/s for H100 SXM and H200). With 2+ GPUs it also runs `--gpus N`.
# Results: bench/results/training_gpu.md.
#
# Usage on a GPU host (binaries from scripts/gpu-bundle.sh, or RCC=path/to/rcc):
#   bench/gpu_train.sh                 # the configs' own step sizes, rcc and the baseline
#   ACCUM=16 bench/gpu_train.sh        # the same, then both configs again at 16 micro-batches
#                                      # per optimizer step (grad_accum 16, 8 steps), rcc only,
#                                      # on one GPU and with --gpus N
# Environment: OUT_DIR (JSON lines, default /tmp/rcc-gpu-train: outside the repository),
# CONFIGS, PEAK_TFLOPS (default 989), ACCUM (unset: no micro-batch runs).
# Output: $OUT_DIR/train_gpu.jsonl and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-/tmp/rcc-gpu-train}
CONFIGS=${CONFIGS:-bench/configs/train-2x160m.json bench/configs/train-2x410m.json}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
source bench/gpu_env.sh  # RCC: the rcc binary
mkdir -p "$OUT_DIR"
GPUS=$(nvidia-smi -L | wc -l)
: > "$OUT_DIR/train_gpu.jsonl"
# One rcc run: config file, GPUs, micro-batches per step (1: the config's own), the config to name
# in the output. The logged windows after the first (warm-up: cuBLAS plans, allocator) are averaged.
rcc_run() {
  local cfg=$1 n=$2 accum=$3 label=$4 out
  out=$(mktemp -d)
  if [ "$n" = 1 ]; then
    "$RCC" train --config "$cfg" --out "$out" --device cuda --quiet > "$out/summary.json"
  else
    "$RCC" train --config "$cfg" --out "$out" --gpus "$n" --quiet > "$out/summary.json"
  fi
  python3 - "$out/log.jsonl" "$label" "$n" "$PEAK_TFLOPS" "$accum" >> "$OUT_DIR/train_gpu.jsonl" <<'PY'
import json, sys
log, cfg, n, peak, accum = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
out = {"side": "rcc", "config": cfg, "gpus": n, "tokens_per_s": tps, "tflops": tf,
       "mfu": tf / (peak * n), "windows": len(rows)}
if accum > 1:
    out["grad_accum"] = accum
print(json.dumps(out))
PY
  rm -rf "$out"
}
for cfg in $CONFIGS; do
  for n in 1 $([ "$GPUS" -ge 2 ] && echo "$GPUS"); do
    rcc_run "$cfg" "$n" 1 "$cfg"
  done
  tokens=$(python3 -c "import json;c=json.load(open('$cfg'));t=c['train'];tk=c['tasks'][0];print(t['batch_size']*(tk['min_tokens']+tk['max_tokens'])//2)")
  python3 bench/reference/train_pytorch.py --config "$cfg" --tokens "$tokens" >> "$OUT_DIR/train_gpu.jsonl"
done
# ACCUM=N: each config at N micro-batches per optimizer step, where the per-step costs (AdamW, the
# gradient norm and zeroing, the two-GPU all-reduce) are paid once per N passes. rcc only.
if [ -n "${ACCUM:-}" ] && [ "$ACCUM" -gt 1 ]; then
  for cfg in $CONFIGS; do
    acfg=$(mktemp --suffix=.json)
    python3 - "$cfg" "$acfg" "$ACCUM" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["train"]["grad_accum"] = int(sys.argv[3]); c["train"]["steps"] = 8; c["train"]["log_every"] = 2
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
    for n in 1 $([ "$GPUS" -ge 2 ] && echo "$GPUS"); do
      rcc_run "$acfg" "$n" "$ACCUM" "$cfg"
    done
    rm -f "$acfg"
  done
fi
python3 - "$OUT_DIR/train_gpu.jsonl" "$PEAK_TFLOPS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peak = float(sys.argv[2])
print(f"{'config':34} {'side':8} {'gpus':>4} {'tokens/s':>10} {'TFLOP/s':>8} {'MFU':>6}")
for r in rows:
    mfu = r.get("mfu", r["tflops"] / peak)
    name = r["config"].split("/")[-1] + (f" accum {r['grad_accum']}" if "grad_accum" in r else "")
    print(f"{name:34} {r['side']:8} {r.get('gpus', 1):>4} "
          f"{r['tokens_per_s']:>10.0f} {r['tflops']:>8.1f} {100 * mfu:>5.1f}%")
PY
