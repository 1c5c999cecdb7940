#!/usr/bin/env bash
# The wgmma backward with 128-key blocks (RCC_SM90_BWD_PAIR=1: two warpgroups, one per 64-key
# half, sharing the query tiles and summing their dQ shares in shared memory before one reduction
# per 128 keys) against 64-key blocks: every attention check with the pair variant, the kernel
# timings of both, and training throughput of both (and the mma.sync kernels), same card.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz            # ./gpu-bundle
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
RCC_SM90_BWD_PAIR=1 timeout 300 gpu-bundle/rcc_cuda_attn_bwd_check --no-bench > $OUT/attn_bwd_check_pair.log 2>&1
rc=$?; echo "attn_bwd_check (pair) rc=$rc" | tee -a $OUT/attn_bwd_check_pair.log
grep -E "^device|^FAIL|SUMMARY" $OUT/attn_bwd_check_pair.log | head
timeout 200 gpu-bundle/rcc_cuda_attn_bwd_check --bench-only > $OUT/attn_bwd_bench.log 2>&1
grep -E "pair|bwd_batched|RATIO attn_bwd" $OUT/attn_bwd_bench.log
[ $rc = 0 ] || exit 1
RCC=$PWD/gpu-bundle/rcc
tput() {  # label bwd_mode bulk config
  local d=$(mktemp -d)
  RCC_SM90_BWD_PAIR=$3 RCC_CUDA_ATTN_BWD=$2 RCC_CUDA_ATTN_FWD=$2 "$RCC" train --config "$4" --out "$d" --device cuda --quiet > /dev/null 2> $d/err || { echo "$1 FAILED"; tail -3 $d/err; }
  python3 - "$1" "$4" "$d/log.jsonl" >> $OUT/throughput.jsonl <<'PY'
import json, sys
label, cfg, log = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"path": label, "config": cfg, "tokens_per_s": round(tps), "tflops": round(tf, 1),
                  "loss_last": rows[-1]["loss"], "windows": len(rows)}))
PY
  rm -rf "$d"
}
for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
  for rep in 1 2; do
    tput mma mma 0 $cfg; tput sm90_red auto 0 $cfg; tput sm90_pair auto 1 $cfg
  done
done
cat $OUT/throughput.jsonl
