#!/usr/bin/env bash
# Two H100s with the wgmma attention kernels: the multi-GPU check (scripts/gpu-multi-check.sh:
# --gpus 2 against one GPU, 60 steps), then 2x160m / 2x410m with --gpus 2, the mma.sync kernels
# (RCC_CUDA_ATTN_BWD=mma RCC_CUDA_ATTN_FWD=mma) against the wgmma ones, one run each, same binary.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
scripts/gpu-multi-check.sh > $OUT/multi_check.log 2>&1; echo "multi-check rc=$?" | tee -a $OUT/multi_check.log
tail -6 $OUT/multi_check.log
for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
  for path in mma auto; do
    d=$(mktemp -d)
    RCC_CUDA_ATTN_BWD=$path RCC_CUDA_ATTN_FWD=$path gpu-bundle/rcc train --config $cfg --out $d --gpus 2 --quiet > /dev/null 2> $d/err || { echo "$path FAILED"; tail -3 $d/err; }
    python3 - "$path" "$cfg" "$d/log.jsonl" <<'PY' | tee -a $OUT/throughput.jsonl
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"path": label, "gpus": 2, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1), "loss_last": rows[-1]["loss"]}))
PY
  done
done
