#!/usr/bin/env bash
# A CUPTI timeline of 6 training steps (2x160m and 2x410m) on the GPU machine, summarised by
# timeline.py; the raw traces come back compressed. BUNDLE: the bundle archive to unpack; RCC: the
# binary to trace (default the bundle's); TAG: a suffix for the output names; MARKER: the kernel
# that ends a step (timeline.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
[ -x gpu-bundle/rcc ] || tar -xJf ${BUNDLE:-.carry/gpu-bundle-full.tar.xz}
export LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
mkdir -p $OUT
CUPTI=$(dirname "$(find / -name 'libcupti.so*' 2>/dev/null | head -1)")
g++ -O2 -shared -fPIC bench/trace/cupti_trace.cpp -I/usr/local/cuda/include -L$CUPTI -lcupti \
  -Wl,-rpath,$CUPTI -o /tmp/libcupti_trace.so || exit 1
for m in ${MODELS:-160m 410m}; do
  python3 - bench/configs/train-2x$m.json /tmp/cfg-$m.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["train"]["steps"] = 6; c["train"]["log_every"] = 1
json.dump(c, open(sys.argv[2], "w"))
PY
  d=$(mktemp -d)
  CUDA_INJECTION64_PATH=/tmp/libcupti_trace.so RCC_TRACE_OUT=/tmp/trace-$m.tsv \
    ${RCC:-gpu-bundle/rcc} train --config /tmp/cfg-$m.json --out $d --device cuda --quiet > /dev/null 2> $OUT/err-$m${TAG:-}.txt
  echo "$m rc=$? records $(wc -l < /tmp/trace-$m.tsv)"
  python3 bench/trace/timeline.py /tmp/trace-$m.tsv 3 ${MARKER:-adamw} | tee $OUT/timeline-$m${TAG:-}.txt
  xz -6 < /tmp/trace-$m.tsv > $OUT/trace-$m${TAG:-}.tsv.xz
done
