#!/usr/bin/env bash
# Software-pipelined wgmma attention backward. Modes: `check` runs every CUDA check
# (scripts/gpu-check.sh); `attn` the attention benchmark of rcc_cuda_attn_bwd_check (16 and 8
# windows of 2048 rows, as 2x160m and 2x410m train) with the build before the change
# (.carry/head.tar.xz, or HEAD_TAR: rcc and rcc_cuda_attn_bwd_check of the commit before, in a
# folder head/) and this build, alternating
# REPS (default 2) times; `throughput` trains 2x160m and 2x410m with both, alternating; `accum`
# the same at 4 micro-batches per optimizer step.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-new.tar.xz
tar -xJf ${HEAD_TAR:-.carry/head.tar.xz} -C /tmp
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
NEW=$PWD/gpu-bundle BASE=/tmp/head
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
  rm -rf $d
}
for mode in "$@"; do
case $mode in
check)
  timeout 420 scripts/gpu-check.sh > $OUT/gpu_check.log 2>&1; echo "gpu-check rc=$?" | tee -a $OUT/gpu_check.log
  grep -E "^device|^FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -40
  ;;
attn)
  for rep in $(seq ${REPS:-2}); do
    for side in head new; do
      bin=$BASE/rcc_cuda_attn_bwd_check; [ $side = new ] && bin=$NEW/rcc_cuda_attn_bwd_check
      $bin --bench-only 2>&1 | grep -E "^TIME attn_(fwd|bwd)_batched_(16|8)x2048.*fused" | sed "s/^/$side /" | tee -a $OUT/attn.txt
    done
  done
  ;;
throughput)
  for cfg in bench/configs/train-2x160m.json bench/configs/train-2x410m.json; do
    for rep in $(seq ${REPS:-2}); do
      train head "$BASE/rcc" $cfg X=1
      train new "$NEW/rcc" $cfg X=1
    done
  done
  ;;
accum)  # both configs at 4 micro-batches per optimizer step (4x the tokens a step), 12 steps
  for m in 160m 410m; do
    python3 - $m <<'PY'
import json, sys
m = sys.argv[1]
c = json.load(open(f"bench/configs/train-2x{m}.json"))
c["train"]["grad_accum"] = 4; c["train"]["steps"] = 12; c["train"]["log_every"] = 3
json.dump(c, open(f"/tmp/train-2x{m}-accum4.json", "w"), indent=1)
PY
    cp /tmp/train-2x$m-accum4.json $OUT/
    for rep in $(seq ${REPS:-2}); do
      train head "$BASE/rcc" /tmp/train-2x$m-accum4.json X=1
      train new "$NEW/rcc" /tmp/train-2x$m-accum4.json X=1
    done
  done
  ;;
esac
done
