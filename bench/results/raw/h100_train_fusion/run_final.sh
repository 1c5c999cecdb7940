#!/usr/bin/env bash
# The final build (pool size classes capped at 64 MiB steps, the shared AdamW element update):
# every CUDA check, training throughput base vs final alternating, and the inference headline's
# peak device memory at 1M tokens (Pythia-1.4b-shaped random RCC model, rcc-ask) base vs final.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-full.tar.xz
mkdir -p /tmp/base && tar -xJf .carry/gpu-bundle-base.tar.xz -C /tmp/base
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
grep -E "^FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -8
NEW=$PWD/gpu-bundle/rcc BASE=/tmp/base/gpu-bundle/rcc
for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
  for rep in 1 2; do
    for b in base new; do
      d=$(mktemp -d); bin=$([ $b = new ] && echo $NEW || echo $BASE)
      $bin train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$b FAILED"; tail -3 $d/err; }
      python3 - "$b" "$cfg" "$d/log.jsonl" <<'PY' >> $OUT/throughput.jsonl
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"build": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1), "loss_last": rows[-1]["loss"]}))
PY
    done
  done
done
cat $OUT/throughput.jsonl
python3 bench/reference/rcc_pytorch.py --save-model /tmp/m14 --save-only > /dev/null 2>&1 || echo "model FAILED"
for b in base new; do
  bin=$([ $b = new ] && echo $NEW || echo $BASE)
  $bin bench-context --kind rcc-ask --model /tmp/m14 --device cuda --tokens 1048576 --new-tokens 32 \
    --repeat 2 2> /dev/null | tail -1 | sed "s/^{/{\"build\":\"$b\",/" | tee -a $OUT/rcc_1m.jsonl
done
