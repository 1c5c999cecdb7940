#!/usr/bin/env bash
# Batched training attention on the H100: the attention check (correctness + kernel timings,
# per-sequence vs batched launches), training throughput base (HEAD before the change) vs new,
# alternating, same card; with `check`: the full CUDA checks (scripts/gpu-check.sh), new build.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
tar -xJf .carry/gpu-bundle-full.tar.xz            # ./gpu-bundle (new build, with the CUDA tests)
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
if [ "${1:-}" = check ]; then  # the second call: every CUDA check with the new build
  scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "FAIL|SUMMARY|summary" $OUT/gpu_check.log | tail -20
  exit 0
fi
mkdir -p /tmp/base && tar -xJf .carry/gpu-bundle-base.tar.xz -C /tmp/base
gpu-bundle/rcc_cuda_attn_bwd_check > $OUT/attn_check.log 2>&1; echo "attn check rc=$?" | tee -a $OUT/attn_check.log
grep -E "FAIL|SUMMARY|TIME|RATIO" $OUT/attn_check.log | head -60
# The same kernel timings from the base build's check program (one sequence per launch).
mkdir -p /tmp/bc && tar -xJf .carry/base-attn-check.tar.xz -C /tmp/bc
/tmp/bc/rcc_cuda_attn_bwd_check_base --bench-only > $OUT/attn_base.log 2>&1
grep TIME $OUT/attn_base.log
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
