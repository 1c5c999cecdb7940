#!/usr/bin/env bash
# Both wgmma attention kernels (batched forward, backward) on the H100: every CUDA check
# (scripts/gpu-check.sh), then training throughput, alternating on the same card:
# mma = both attention kernels mma.sync (the previous default), bwd = the wgmma backward with the
# mma.sync forward, sm90 = both wgmma (the new default).
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz            # ./gpu-bundle
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
grep -E "^device|^FAIL|SUMMARY|summary|FAILED|PASSED|Passed|passed|bwd_batched|fwd_batched|RATIO attn" $OUT/gpu_check.log | tail -40
RCC=$PWD/gpu-bundle/rcc
tput() {  # label bwd_mode fwd_mode config
  local d=$(mktemp -d)
  RCC_CUDA_ATTN_BWD=$2 RCC_CUDA_ATTN_FWD=$3 "$RCC" train --config "$4" --out "$d" --device cuda --quiet > /dev/null 2> $d/err || { echo "$1 FAILED"; tail -3 $d/err; }
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
  tput mma mma mma $cfg; tput bwd auto mma $cfg; tput sm90 auto auto $cfg
done
cat $OUT/throughput.jsonl
