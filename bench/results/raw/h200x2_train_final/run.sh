#!/usr/bin/env bash
# Training throughput of the final build on a 2-GPU host: `bench/gpu_train.sh` (rcc on one GPU
# and with --gpus 2, the PyTorch + transformers baseline on one GPU) into $OUT/rep$REP, then
# both configs at 16 micro-batches per optimizer step (8 steps) on one GPU and on two.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
[ -x gpu-bundle/rcc ] || tar -xJf .carry/gpu-bundle-final.tar.xz
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
OUT_DIR=$OUT/rep${REP:-2} bash bench/gpu_train.sh 2>&1 | tail -8 | tee $OUT/rep${REP:-2}/table.txt
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
for m in 160m 410m; do
  python3 - $m <<'PY'
import json, sys
m = sys.argv[1]
c = json.load(open(f"bench/configs/train-2x{m}.json"))
c["train"]["grad_accum"] = 16; c["train"]["steps"] = 8; c["train"]["log_every"] = 2
json.dump(c, open(f"/tmp/train-2x{m}-accum16.json", "w"), indent=1)
PY
  for n in 1 2; do
    d=$(mktemp -d)
    if [ $n = 1 ]; then dev="--device cuda"; else dev="--gpus 2"; fi
    gpu-bundle/rcc train --config /tmp/train-2x$m-accum16.json --out $d $dev --quiet > /dev/null 2> $d/err || tail -3 $d/err
    python3 - $m $n $d/log.jsonl <<'PY' | tee -a $OUT/accum16.jsonl
import json, sys
m, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(l) for l in open(log) if '"tokens_per_s"' in l][1:]
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
tf = sum(r["gflops"] for r in rows) / len(rows) / 1e3
print(json.dumps({"config": f"2x{m} grad_accum 16", "gpus": n, "tokens_per_s": round(tps), "tflops": round(tf, 1), "mfu": round(tf / (989 * n), 4)}))
PY
    rm -rf $d
  done
done
