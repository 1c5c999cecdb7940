#!/usr/bin/env bash
# Attention on the fused qkv layout (no rotary split / merge passes): `check` runs every CUDA check
# (scripts/gpu-check.sh); `throughput` trains 2x160m and 2x410m with the binary before the change
# (.carry/prev/rcc, commit ba0cb7c) and this build, alternating, REPS (default 2) times each;
# `ab` both binaries with RCC_CUDA_FUSED=0 and without; `accum` the same for 2x160m at 4 micro-batches per optimizer step; `trace` records a CUPTI timeline of 2x160m with both (bench/trace/run-h100.sh). Every output file
# goes into one archive at the end (the device returns a limited number of files).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-qkv.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle/rcc BASE=$PWD/.carry/prev/rcc
train() {  # label binary config [env...]
  local label=$1 bin=$2 cfg=$3; shift 3
  local d; d=$(mktemp -d)
  env "$@" "$bin" train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$label FAILED"; tail -3 $d/err; }
  python3 - "$label" "$cfg" "$d/log.jsonl" <<'PY' | tee -a $OUT/throughput.jsonl
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"path": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1), "loss_last": rows[-1]["loss"]}))
PY
  cp $d/err $OUT/stderr-$label-$(basename $cfg .json).txt 2>/dev/null
  rm -rf $d
}
for mode in "$@"; do
case $mode in
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|^FAIL|SUMMARY|summary|PASSED|FAILED|RATIO attn_bwd_batched|bwd_batched_16|fwd_batched_16" $OUT/gpu_check.log | tail -40
  ;;
throughput)
  for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
    for rep in $(seq ${REPS:-2}); do
      train prev "$BASE" $cfg X=1
      train new "$NEW" $cfg X=1
    done
  done
  ;;
ab)  # 2x2: both binaries with their fusions on and off (RCC_CUDA_FUSED=0: no layer-norm pair,
  # GELU bias or column-sum kernels; the fused-qkv attention stays), alternating
  for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
    for rep in $(seq ${REPS:-2}); do
      train prev "$BASE" $cfg X=1
      train new "$NEW" $cfg X=1
      train prev-unfused "$BASE" $cfg RCC_CUDA_FUSED=0
      train new-unfused "$NEW" $cfg RCC_CUDA_FUSED=0
    done
  done
  ;;
accum)  # 2x160m with 4 micro-batches per optimizer step (128k tokens a step), 12 steps
  python3 - <<'PY'
import json
c = json.load(open("bench/configs/train-2x160m.json"))
c["train"]["grad_accum"] = 4; c["train"]["steps"] = 12; c["train"]["log_every"] = 3
json.dump(c, open("/tmp/train-2x160m-accum4.json", "w"), indent=1)
PY
  cp /tmp/train-2x160m-accum4.json $OUT/
  for rep in 1 2; do
    train prev "$BASE" /tmp/train-2x160m-accum4.json X=1
    train new "$NEW" /tmp/train-2x160m-accum4.json X=1
  done
  ;;
trace)  # CUPTI timelines (6 steps, the last 3 summarised) of MODELS (default 160m), both binaries
  export MODELS=${MODELS:-160m}
  RCC=$BASE TAG=-prev bash bench/trace/run-h100.sh > /dev/null
  RCC=$NEW TAG=-new bash bench/trace/run-h100.sh > /dev/null
  for m in $MODELS; do
    for t in prev new; do
      xz -dc $OUT/trace-$m-$t.tsv.xz > /tmp/t.tsv
      python3 bench/trace/kernels.py /tmp/t.tsv 3 > $OUT/kernels-$m-$t.txt
      echo "== $m $t"; head -1 $OUT/kernels-$m-$t.txt; head -1 $OUT/timeline-$m-$t.txt
    done
  done
  ;;
esac
done
(cd $OUT && tar -cf results.tar --exclude='*.tar' . && find . -type f ! -name '*.tar' -delete)
