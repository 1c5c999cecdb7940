#!/usr/bin/env bash
# Fused layer norms and GELU bias gradients: `check` runs every CUDA check (scripts/gpu-check.sh)
# and logs the products' plans (how many, the host time of each); `throughput` trains 2x160m and
# 2x410m with the binary before the change (.carry/base/rcc), this build with its fusions off
# (RCC_CUDA_FUSED=0) and on, alternating, REPS (default 2) times each. Every output file goes
# into one archive at the end (the device returns a limited number of files).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-fusion.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle/rcc BASE=$PWD/.carry/base/rcc
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
case ${1:-check} in
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|^FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -30
  d=$(mktemp -d)
  RCC_CUDA_GEMM_LOG=1 "$NEW" train --config bench/configs/train-2x160m.json --out $d --device cuda --quiet > /dev/null 2> $OUT/gemm_log.txt
  python3 - $OUT/gemm_log.txt <<'PY'
import re, sys
us = [float(m.group(1)) for m in re.finditer(r"planned in (\d+) us", open(sys.argv[1]).read())]
print(f"{len(us)} plans over 30 steps, mean {sum(us) / max(1, len(us)):.0f} us, total {sum(us) / 1e3:.1f} ms")
PY
  RCC_CUDA_GEMM_LOG=1 "$BASE" train --config bench/configs/train-2x160m.json --out $(mktemp -d) --device cuda --quiet > /dev/null 2> $OUT/gemm_log_base.txt
  echo "base: $(grep -c '^gemm rows' $OUT/gemm_log_base.txt) plans over 30 steps"
  ;;
throughput)
  for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
    for rep in $(seq ${REPS:-2}); do
      train base "$BASE" $cfg X=1
      train unfused "$NEW" $cfg RCC_CUDA_FUSED=0
      train fused "$NEW" $cfg X=1
      [ -n "${TUNE:-}" ] && train fused-tune "$NEW" $cfg RCC_CUDA_GEMM_TUNE=1
    done
  done
  ;;
esac
(cd $OUT && tar -cf results-${1:-check}.tar --exclude='*.tar' . && find . -type f ! -name '*.tar' -delete)
