#!/usr/bin/env bash
# Where a training step's time goes on the H100 (2x160m and 2x410m): every kernel's duration from
# Nsight Compute over a 3-step run (steps 2-3 are summarised by summarise.py), the per-phase wall
# times (RCC_TRAIN_PROFILE=1) and plain throughput; plus the cuBLASLt epilogue probe.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
tar -xJf .carry/gpu-bundle-full.tar.xz
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
P=bench/results/raw/h100_profile
nvcc -O2 -arch=sm_90 $P/probe_epilogue.cu -lcublasLt -o /tmp/probe && /tmp/probe | tee $OUT/probe.txt
for m in 160m 410m; do
  python3 - bench/configs/train-2x$m.json /tmp/cfg-$m.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["train"]["steps"] = 3; c["train"]["log_every"] = 1
json.dump(c, open(sys.argv[2], "w"))
PY
  d=$(mktemp -d)
  RCC_TRAIN_PROFILE=1 gpu-bundle/rcc train --config bench/configs/train-2x$m.json --out $d --device cuda --quiet > /dev/null 2> $OUT/phases-$m.txt
  grep tokens_per_s $d/log.jsonl | tail -3 >> $OUT/phases-$m.txt
  d=$(mktemp -d)
  timeout 250 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
    gpu-bundle/rcc train --config /tmp/cfg-$m.json --out $d --device cuda --quiet > /tmp/ncu-$m.csv 2> /tmp/ncu-$m.err
  echo "ncu $m rc=$? lines $(wc -l < /tmp/ncu-$m.csv)"; tail -2 /tmp/ncu-$m.err
  python3 $P/summarise.py /tmp/ncu-$m.csv > $OUT/kernels-$m.txt; head -45 $OUT/kernels-$m.txt
  xz -9 < /tmp/ncu-$m.csv > $OUT/ncu-$m.csv.xz
done
