#!/usr/bin/env bash
# The wgmma attention forward with a quarter of its exponentials on the FMA pipe (exp2_fma), the
# rest flushing subnormals (one SFU instruction each; the backward's too), and a ring of three K/V
# buffers with one barrier per tile. Modes: `check` (scripts/gpu-check.sh); `attn`: the attention
# benchmark of rcc_cuda_attn_bwd_check (16 and 8 windows of 2048 rows), the build before
# (.carry/head.tar.xz: rcc and rcc_cuda_attn_bwd_check in head/) and this build, alternating REPS
# (default 2) times; `throughput`: 2x160m and 2x410m, both builds alternating; `accum16`: both
# configs at 16 micro-batches per optimizer step (8 steps), both builds.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-new.tar.xz
[ -x /tmp/head/rcc ] || tar -xJf ${HEAD_TAR:-.carry/head.tar.xz} -C /tmp
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
  grep -E "^device|FAIL|SUMMARY|summary|PASSED|FAILED" $OUT/gpu_check.log | tail -40
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
  for m in ${MODELS:-160m 410m}; do
    for rep in $(seq ${REPS:-2}); do
      train head $BASE/rcc bench/configs/train-2x$m.json X=1
      train new $NEW/rcc bench/configs/train-2x$m.json X=1
    done
  done
  ;;
accum16)
  for m in 160m 410m; do
    python3 - $m <<'PY'
import json, sys
m = sys.argv[1]
c = json.load(open(f"bench/configs/train-2x{m}.json"))
c["train"]["grad_accum"] = 16; c["train"]["steps"] = 8; c["train"]["log_every"] = 2
json.dump(c, open(f"/tmp/train-2x{m}-accum16.json", "w"), indent=1)
PY
    cp /tmp/train-2x$m-accum16.json $OUT/
    train head-accum16 $BASE/rcc /tmp/train-2x$m-accum16.json X=1
    train new-accum16 $NEW/rcc /tmp/train-2x$m-accum16.json X=1
  done
  ;;
esac
done
