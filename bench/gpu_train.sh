#!/usr/bin/env bash
# Training throughput on one GPU: `rcc train --device cuda` on bench/configs/train-2x160m.json and
# train-2x410m.json (random RCC models of Pythia-160m and -410m shape: encoder + decoder, windows of
# 2048 tokens, passkey contexts of ~8k tokens), against the PyTorch + Hugging Face baseline run in
# the same command (bench/reference/train_pytorch.py: one GPT-NeoX of the same shape, bf16 autocast,
# SDPA, fused AdamW, the same tokens per step). Model FLOPs utilisation against the card's dense
# bf16 peak (989 TFLOP/s for H100 SXM and H200). With 2+ GPUs it also runs `--gpus N`.
# Output: JSON lines in $OUT_DIR (default bench/results/raw) and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-bench/results/raw}
CONFIGS=${CONFIGS:-bench/configs/train-2x160m.json bench/configs/train-2x410m.json}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
source bench/gpu_env.sh  # RCC: the rcc binary
mkdir -p "$OUT_DIR"
GPUS=$(nvidia-smi -L | wc -l)
: > "$OUT_DIR/train_gpu.jsonl"
for cfg in $CONFIGS; do
  name=$(basename "$cfg" .json)
  # rcc: the logged windows after the first (warm-up: cuBLAS plans, allocator) are averaged.
  for n in 1 $([ "$GPUS" -ge 2 ] && echo "$GPUS"); do
    out=$(mktemp -d)
    if [ "$n" = 1 ]; then
      "$RCC" train --config "$cfg" --out "$out" --device cuda --quiet > "$out/summary.json"
    else
      "$RCC" train --config "$cfg" --out "$out" --gpus "$n" --quiet > "$out/summary.json"
    fi
    python3 - "$out/log.jsonl" "$cfg" "$n" "$PEAK_TFLOPS" >> "$OUT_DIR/train_gpu.jsonl" <<'PY'
import json, sys
log, cfg, n, peak = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"side": "rcc", "config": cfg, "gpus": n, "tokens_per_s": tps, "tflops": tf,
                  "mfu": tf / (peak * n), "windows": len(rows)}))
PY
    rm -rf "$out"
  done
  tokens=$(python3 -c "import json;c=json.load(open('$cfg'));t=c['train'];tk=c['tasks'][0];print(t['batch_size']*(tk['min_tokens']+tk['max_tokens'])//2)")
  python3 bench/reference/train_pytorch.py --config "$cfg" --tokens "$tokens" >> "$OUT_DIR/train_gpu.jsonl"
done
python3 - "$OUT_DIR/train_gpu.jsonl" "$PEAK_TFLOPS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peak = float(sys.argv[2])
print(f"{'config':28} {'side':8} {'gpus':>4} {'tokens/s':>10} {'TFLOP/s':>8} {'MFU':>6}")
for r in rows:
    mfu = r.get("mfu", r["tflops"] / peak)
    print(f"{r['config'].split('/')[-1]:28} {r['side']:8} {r.get('gpus', 1):>4} "
          f"{r['tokens_per_s']:>10.0f} {r['tflops']:>8.1f} {100 * mfu:>5.1f}%")
PY
