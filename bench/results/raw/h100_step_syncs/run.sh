#!/usr/bin/env bash
# One read-back for a step's per-sample losses (cross_entropy_parts) and the pool's per-step
# growth. Modes: `check` (scripts/gpu-check.sh), `opscheck` (rcc_cuda_check only), `alloclog`
# (2x160m and 2x410m, 30 steps, RCC_CUDA_ALLOC_LOG=1: every pool allocation of 50 us or more),
# `throughput` (2x160m and 2x410m: the build before, .carry/head.tar.xz with rcc in head/, and
# this build alternating REPS times, default 2), `pool` (this build with RCC_CUDA_POOL_STEPS
# = 16 (the default), 8 and 4 size classes per power of two), `trace` (CUPTI timelines).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-new.tar.xz
[ -x /tmp/head/rcc ] || tar -xJf ${HEAD_TAR:-.carry/head.tar.xz} -C /tmp
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle BASE=/tmp/head
train() {  # label binary config [env...]
  local label=$1 bin=$2 cfg=$3; shift 3
  local d; d=$(mktemp -d)
  env "$@" "$bin" train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$label FAILED"; tail -3 $d/err; }
  [ -n "${KEEP_ERR:-}" ] && cp $d/err $OUT/err-$label-$(basename $cfg .json).txt
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
opscheck)
  gpu-bundle/rcc_cuda_check > $OUT/ops_check.log 2>&1; echo "rcc_cuda_check rc=$?"
  grep -E "FAIL|SUMMARY|cross_entropy_parts" $OUT/ops_check.log
  ;;
alloclog)
  for m in 160m 410m; do
    KEEP_ERR=1 train alloclog $NEW/rcc bench/configs/train-2x$m.json RCC_CUDA_ALLOC_LOG=1
    echo "$m: $(grep -c 'cuda alloc' $OUT/err-alloclog-train-2x$m.txt) slow allocations in 30 steps"
  done
  ;;
throughput)
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train head $BASE/rcc bench/configs/train-2x$m.json X=1
      train new $NEW/rcc bench/configs/train-2x$m.json X=1
    done
  done
  ;;
pool)
  for m in ${MODELS:-160m 410m}; do
    for s in 16 8 4; do train pool$s $NEW/rcc bench/configs/train-2x$m.json RCC_CUDA_POOL_STEPS=$s; done
  done
  ;;
trace)
  BUNDLE=.carry/gpu-bundle-new.tar.xz bash bench/trace/run-h100.sh
  for m in 160m 410m; do python3 bench/trace/kernels.py /tmp/trace-$m.tsv 3 > $OUT/kernels-$m.txt; done
  ;;
esac
done
