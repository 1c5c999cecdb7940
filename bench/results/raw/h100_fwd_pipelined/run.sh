#!/usr/bin/env bash
# The wgmma attention forward with the next key tile's S issued before this tile's softmax
# (flash_sm90_pipelined_kernel) against the kernel without the overlap
# (RCC_CUDA_ATTN_FWD_SERIAL=1), one binary. Modes: `check` (scripts/gpu-check.sh with the
# default kernel), `attn` (rcc_cuda_attn_bwd_check's forward benchmark, 16 and 8 windows of 2048
# rows: serial, pipelined, pipelined at one block per SM (RCC_CUDA_ATTN_FWD_MINB1=1), REPS
# rounds, default 3), `throughput` (2x160m and 2x410m, serial and pipelined alternating REPS
# times, default 2).
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
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -40
  ;;
attn)
  for rep in $(seq ${REPS:-3}); do
    for k in serial pipelined minb1; do
      env RCC_CUDA_ATTN_FWD_SERIAL=$([ $k = serial ] && echo 1 || echo 0) RCC_CUDA_ATTN_FWD_MINB1=$([ $k = minb1 ] && echo 1 || echo 0) \
        $B/rcc_cuda_attn_bwd_check --bench-only 2>&1 | grep -E "^TIME attn_fwd_batched_(16|8)x2048.*fused" | sed "s/^/$k /" | tee -a $OUT/attn.txt
    done
  done
  ;;
throughput)
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train serial bench/configs/train-2x$m.json RCC_CUDA_ATTN_FWD_SERIAL=1
      train pipelined bench/configs/train-2x$m.json RCC_CUDA_ATTN_FWD_SERIAL=0
    done
  done
  ;;
esac
done
