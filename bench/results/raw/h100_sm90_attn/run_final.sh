#!/usr/bin/env bash
# The final build (wgmma forward; wgmma backward with 128-key blocks): every CUDA check
# (scripts/gpu-check.sh), then training throughput against the mma.sync kernels, alternating.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
timeout 360 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
grep -E "^device|^FAIL|SUMMARY|summary|PASSED|bwd_batched|fwd_batched|RATIO attn" $OUT/gpu_check.log | tail -30
RCC=$PWD/gpu-bundle/rcc
for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
  for path in mma auto mma auto; do
    d=$(mktemp -d)
    RCC_CUDA_ATTN_BWD=$path RCC_CUDA_ATTN_FWD=$path "$RCC" train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$path FAILED"; tail -3 $d/err; }
    python3 - "$path" "$cfg" "$d/log.jsonl" <<'PY' | tee -a $OUT/throughput.jsonl
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"path": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1), "loss_last": rows[-1]["loss"]}))
PY
    rm -rf $d
  done
done
