#!/usr/bin/env bash
# The wgmma backward with each query tile in two halves (the second half's Sᵀ/dPᵀ products
# overlapping the first half's probabilities): rcc_cuda_attn_bwd_check (the split variant is the
# default; RCC_SM90_BWD_SPLIT=0 the unsplit one, timed beside it), then training throughput with
# both variants and the mma.sync kernels, alternating on the same card.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz            # ./gpu-bundle
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
timeout 300 gpu-bundle/rcc_cuda_attn_bwd_check > $OUT/attn_bwd_check.log 2>&1
rc=$?; echo "attn_bwd_check rc=$rc" | tee -a $OUT/attn_bwd_check.log
grep -E "^device|^FAIL|SUMMARY|^TIME attn_bwd_(auto|mma)_lse|nosplit|bwd_batched|RATIO attn_bwd" $OUT/attn_bwd_check.log | head -60
[ $rc = 0 ] || exit 1
RCC=$PWD/gpu-bundle/rcc
tput() {  # label bwd_mode fwd_mode split config
  local d=$(mktemp -d)
  RCC_SM90_BWD_SPLIT=$4 RCC_CUDA_ATTN_BWD=$2 RCC_CUDA_ATTN_FWD=$3 "$RCC" train --config "$5" --out "$d" --device cuda --quiet > /dev/null 2> $d/err || { echo "$1 FAILED"; tail -3 $d/err; }
  python3 - "$1" "$5" "$d/log.jsonl" >> $OUT/throughput.jsonl <<'PY'
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
    tput mma mma mma 1 $cfg; tput sm90_nosplit auto auto 0 $cfg; tput sm90_split auto auto 1 $cfg
  done
done
cat $OUT/throughput.jsonl
