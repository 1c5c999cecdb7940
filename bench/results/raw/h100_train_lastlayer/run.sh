#!/usr/bin/env bash
# The encoder-last-layer training change on the H100: the CUDA checks (scripts/gpu-check.sh) with
# the new build, then training throughput old vs new, alternating, same card.
set -uo pipefail
cd "$(dirname "$0")/../.."
tar -xJf .carry/gpu-bundle-full.tar.xz            # ./gpu-bundle (new build, with the CUDA tests)
mkdir -p /tmp/old && tar -xJf .carry/gpu-bundle-old.tar.xz -C /tmp/old
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle/rcc OLD=/tmp/old/gpu-bundle/rcc
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
  for rep in 1 2; do tput old $OLD $cfg; tput new $NEW $cfg; done
done
cat $OUT/throughput.jsonl
scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
tail -25 $OUT/gpu_check.log
