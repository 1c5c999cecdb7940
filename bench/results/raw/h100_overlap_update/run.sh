#!/usr/bin/env bash
# The optimizer step on a second, lower-priority stream, overlapping the next step's forward
# (TrainableRCC::begin_side_update). One build (.carry/gpu-bundle-new.tar.xz), the baseline being
# the same binary with RCC_TRAIN_OVERLAP=0 (the update on the main stream, as before), run
# alternately in one command. Modes: `check` (scripts/gpu-check.sh), `throughput` (2x160m and
# 2x410m: overlap off / on / on with both streams at one priority), `accum` (4 micro-batches a
# step, off / on), `eager` (2x410m with CUDA_MODULE_LOADING=EAGER, off / on), `trace` (a CUPTI
# timeline of 6 steps, off and on).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-new.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
train() {  # label config [env...]
  local label=$1 cfg=$2; shift 2
  local d; d=$(mktemp -d)
  env "$@" gpu-bundle/rcc train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$label FAILED"; tail -3 $d/err; }
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
accum_config() {  # model -> /tmp/train-2x$1-accum4.json
  python3 - $1 <<'PY'
import json, sys
m = sys.argv[1]
c = json.load(open(f"bench/configs/train-2x{m}.json"))
c["train"]["grad_accum"] = 4; c["train"]["steps"] = 12; c["train"]["log_every"] = 3
json.dump(c, open(f"/tmp/train-2x{m}-accum4.json", "w"), indent=1)
PY
}
for mode in "$@"; do
case $mode in
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|FAIL|SUMMARY|summary|PASSED|FAILED|Side" $OUT/gpu_check.log | tail -40
  ;;
throughput)
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train off bench/configs/train-2x$m.json RCC_TRAIN_OVERLAP=0
      train on bench/configs/train-2x$m.json RCC_TRAIN_OVERLAP=1
      [ -n "${PRIO:-}" ] && train on-one-priority bench/configs/train-2x$m.json RCC_TRAIN_OVERLAP=1 RCC_CUDA_PRIORITY=0
    done
  done
  ;;
accum)
  for m in ${MODELS:-160m 410m}; do
    accum_config $m
    for rep in $(seq ${REPS:-2}); do
      train off /tmp/train-2x$m-accum4.json RCC_TRAIN_OVERLAP=0
      train on /tmp/train-2x$m-accum4.json RCC_TRAIN_OVERLAP=1
    done
  done
  ;;
eager)
  for rep in $(seq ${REPS:-1}); do
    train off-eager bench/configs/train-2x410m.json RCC_TRAIN_OVERLAP=0 CUDA_MODULE_LOADING=EAGER
    train on-eager bench/configs/train-2x410m.json RCC_TRAIN_OVERLAP=1 CUDA_MODULE_LOADING=EAGER
  done
  ;;
trace)
  for ov in 0 1; do
    RCC_TRAIN_OVERLAP=$ov MARKER=sum_squares TAG=-overlap$ov MODELS=${MODELS:-410m} bash bench/trace/run-h100.sh
  done
  ;;
esac
done
