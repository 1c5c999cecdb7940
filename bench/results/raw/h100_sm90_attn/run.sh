#!/usr/bin/env bash
# The wgmma (sm_90a) attention backward on the H100: rcc_cuda_attn_bwd_check (every case on the
# default path = the wgmma kernel, "mma" = the mma.sync kernels, deterministic, fallback; then the
# timings, both paths in one binary), and, when every check passed, training throughput with the
# default path against RCC_CUDA_ATTN_BWD=mma (the previous default), alternating on the same card.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-sm90.tar.xz            # ./gpu-bundle
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
timeout 300 gpu-bundle/rcc_cuda_attn_bwd_check > $OUT/attn_bwd_check.log 2>&1
rc=$?; echo "attn_bwd_check rc=$rc" | tee -a $OUT/attn_bwd_check.log
grep -E "^device|^FAIL|SUMMARY|^TIME attn_bwd_(auto|mma)_lse|minb2|bwd_batched|RATIO attn_bwd" $OUT/attn_bwd_check.log | head -60
[ $rc = 0 ] || exit 1
RCC=$PWD/gpu-bundle/rcc
tput() {  # label mode config
  local d=$(mktemp -d)
  RCC_CUDA_ATTN_BWD=$2 "$RCC" train --config "$3" --out "$d" --device cuda --quiet > /dev/null 2> $d/err || { echo "$1 FAILED"; tail -3 $d/err; }
  python3 - "$1" "$3" "$d/log.jsonl" >> $OUT/throughput.jsonl <<'PY'
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
  tput mma mma $cfg; tput sm90 auto $cfg; RCC_SM90_MINB=2 tput sm90_minb2 auto $cfg
done
cat $OUT/throughput.jsonl
