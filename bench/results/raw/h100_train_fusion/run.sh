#!/usr/bin/env bash
# Step overheads removed (batched rotary, out-of-place GELU, one fused optimizer launch, pool
# size classes) on the H100: every CUDA check with the new build, training throughput base (the
# commit before) vs new alternating on the same card, and a CUPTI timeline of both builds.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-full.tar.xz            # ./gpu-bundle (new build, with the CUDA tests)
mkdir -p /tmp/base && tar -xJf .carry/gpu-bundle-base.tar.xz -C /tmp/base
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
grep -E "^FAIL|SUMMARY|summary|FAILED|Passed|passed" $OUT/gpu_check.log | tail -12
NEW=$PWD/gpu-bundle/rcc BASE=/tmp/base/gpu-bundle/rcc
tput() {  # label binary config
  local d=$(mktemp -d)
  "$2" train --config "$3" --out "$d" --device cuda --quiet > /dev/null 2> $d/err || { echo "$1 FAILED"; tail -3 $d/err; }
  python3 - "$1" "$3" "$d/log.jsonl" >> $OUT/throughput.jsonl <<'PY'
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"build": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1),
                  "loss_last": rows[-1]["loss"], "windows": len(rows)}))
PY
  rm -rf "$d"
}
for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
  for rep in 1 2; do tput base $BASE $cfg; tput new $NEW $cfg; done
done
cat $OUT/throughput.jsonl
# Timelines (6 steps each, bench/trace/): the new build, then the base.
OUT_MAIN=$OUT
for b in new base; do
  mkdir -p /tmp/tl-$b
  OUT=/tmp/tl-$b RCC=$([ $b = new ] && echo $NEW || echo $BASE) bash bench/trace/run-h100.sh > /dev/null 2>&1
  for m in 160m 410m; do cp /tmp/tl-$b/timeline-$m.txt $OUT_MAIN/timeline-$b-$m.txt; head -3 /tmp/tl-$b/timeline-$m.txt; done
done
