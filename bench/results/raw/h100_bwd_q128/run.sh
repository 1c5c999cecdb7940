#!/usr/bin/env bash
# The wgmma attention backward stepping over 128 queries (grad_sm90_q128_kernel) against the
# 64-query kernel (RCC_CUDA_ATTN_BWD_Q64=1), one binary. Modes: `attncheck`
# (rcc_cuda_attn_bwd_check, both kernels), `attn` (its benchmark, 16 and 8 windows of 2048 rows,
# both kernels alternating REPS times, default 3), `throughput` (2x160m and 2x410m, both kernels
# alternating REPS times, default 2), `check` (scripts/gpu-check.sh).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-new.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
B=$PWD/gpu-bundle
train() {  # label config [env...]
  local label=$1 cfg=$2; shift 2
  local d; d=$(mktemp -d)
  env "$@" $B/rcc train --config $cfg --out $d --device cuda --quiet > /dev/null 2> $d/err || { echo "$label FAILED"; tail -3 $d/err; }
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
attncheck)
  $B/rcc_cuda_attn_bwd_check > $OUT/attn_check_q128.log 2>&1; echo "q128 rc=$?"; grep -E "FAIL|SUMMARY" $OUT/attn_check_q128.log | head -20
  RCC_CUDA_ATTN_BWD_Q64=1 $B/rcc_cuda_attn_bwd_check > $OUT/attn_check_q64.log 2>&1; echo "q64 rc=$?"; grep -E "FAIL|SUMMARY" $OUT/attn_check_q64.log | head -5
  ;;
attn)
  for rep in $(seq ${REPS:-3}); do
    for k in q64 q128; do
      env RCC_CUDA_ATTN_BWD_Q64=$([ $k = q64 ] && echo 1 || echo 0) $B/rcc_cuda_attn_bwd_check --bench-only 2>&1 | grep -E "^TIME attn_bwd_batched_(16|8)x2048.*fused" | sed "s/^/$k /" | tee -a $OUT/attn.txt
    done
  done
  ;;
throughput)
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train q64 bench/configs/train-2x$m.json RCC_CUDA_ATTN_BWD_Q64=1
      train q128 bench/configs/train-2x$m.json RCC_CUDA_ATTN_BWD_Q64=0
    done
  done
  ;;
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -40
  ;;
esac
done
