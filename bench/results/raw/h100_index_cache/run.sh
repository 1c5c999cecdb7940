#!/usr/bin/env bash
# Index arrays kept on the device (gather/scatter rows uploaded once, not per layer) and GEMM plan
# buckets of 1/16 of the row count's power of two. Modes: `check` (scripts/gpu-check.sh);
# `throughput`: 2x160m and 2x410m with the build before (.carry/head.tar.xz: rcc in head/) and
# this build, alternating REPS (default 2) times, plus this build with the old 128-row plan
# buckets (RCC_CUDA_GEMM_ROW_BUCKET=128); `log`: 2x410m with RCC_CUDA_GEMM_LOG=1 (every new plan
# and the host time of its first product), new and old buckets; `accum16`: both configs at 16
# micro-batches per optimizer step (8 steps), this build.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-new.tar.xz
[ -x /tmp/head/rcc ] || tar -xJf ${HEAD_TAR:-.carry/head.tar.xz} -C /tmp
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle/rcc BASE=/tmp/head/rcc
train() {  # label binary config [env...]
  local label=$1 bin=$2 cfg=$3; shift 3
  local d; d=$(mktemp -d)
  env "$@" "$bin" train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$label FAILED"; tail -3 $d/err; }
  [ -n "${KEEP_ERR:-}" ] && cp $d/err $OUT/err-$label.txt
  python3 - "$label" "$cfg" "$d/log.jsonl" <<'PY' | tee -a $OUT/throughput.jsonl
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"path": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1), "loss_last": rows[-1]["loss"]}))
PY
  rm -rf $d
}
for mode in "$@"; do
case $mode in
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -40
  ;;
throughput)
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train head $BASE bench/configs/train-2x$m.json X=1
      train new $NEW bench/configs/train-2x$m.json X=1
      train new-bucket128 $NEW bench/configs/train-2x$m.json RCC_CUDA_GEMM_ROW_BUCKET=128
    done
  done
  ;;
log)
  KEEP_ERR=1 train log-new $NEW bench/configs/train-2x410m.json RCC_CUDA_GEMM_LOG=1
  KEEP_ERR=1 train log-bucket128 $NEW bench/configs/train-2x410m.json RCC_CUDA_GEMM_LOG=1 RCC_CUDA_GEMM_ROW_BUCKET=128
  for f in $OUT/err-log-*.txt; do echo "$f: $(grep -c 'planned' $f) plans, $(grep -c 'first product' $f) first products, over 1 ms: $(awk '/first product/ && $9 > 1000' $f | wc -l)"; done
  ;;
accum16)
  for m in 160m 410m; do
    python3 - $m <<'PY'
import json, sys
m = sys.argv[1]
c = json.load(open(f"bench/configs/train-2x{m}.json"))
c["train"]["grad_accum"] = 16; c["train"]["steps"] = 8; c["train"]["log_every"] = 2
json.dump(c, open(f"/tmp/train-2x{m}-accum16.json", "w"), indent=1)
PY
    cp /tmp/train-2x$m-accum16.json $OUT/
    train new-accum16 $NEW /tmp/train-2x$m-accum16.json X=1
  done
  ;;
esac
done
