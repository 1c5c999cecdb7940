#!/usr/bin/env bash
# CUPTI timelines (bench/trace/run-h100.sh) of 2x160m and 2x410m training steps: the binary
# before the change, this build with its fusions off and on; per-kernel summaries by kernels.py.
set -uo pipefail
cd "$(dirname "$0")/../../../.."
mkdir -p $OUT
tar -xJf .carry/gpu-bundle-fusion.tar.xz
export MODELS=${MODELS:-160m 410m}
RCC=$PWD/.carry/base/rcc TAG=-base bash bench/trace/run-h100.sh > /dev/null
TAG=-unfused RCC_CUDA_FUSED=0 bash bench/trace/run-h100.sh > /dev/null
TAG=-fused bash bench/trace/run-h100.sh > /dev/null
for m in $MODELS; do
  for t in base unfused fused; do
    xz -dc $OUT/trace-$m-$t.tsv.xz > /tmp/t.tsv
    python3 bench/trace/kernels.py /tmp/t.tsv 3 > $OUT/kernels-$m-$t.txt
    echo "== $m $t"; head -1 $OUT/kernels-$m-$t.txt; head -1 $OUT/timeline-$m-$t.txt
  done
done
# One archive: the device returns a limited number of files.
(cd $OUT && tar -cf results-trace.tar --exclude='*.tar' . && find . -type f ! -name '*.tar' -delete)
