#!/usr/bin/env bash
# The CUDA backend's checks, on a GPU host: every op against the CPU backend (rcc_cuda_check, which
# also times cuBLAS, the fused attention and the decode attention), then the Hugging Face fixtures
# and CUDA-vs-CPU model checks (rcc_cuda_fixture_test). Uses gpu-bundle/ (scripts/gpu-bundle.sh)
# when present, else configures and builds build-gpu/ here. Prints a summary; exit status 1 when
# any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x gpu-bundle/rcc ]; then
  BIN=gpu-bundle
  FIXTURE_TEST=gpu-bundle/rcc_cuda_fixture_test
  export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
else
  cmake -S . -B build-gpu -DRCC_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
  cmake --build build-gpu -j"$(nproc)" --target rcc rcc_cuda_check rcc_cuda_fixture_test || exit 1
  BIN=build-gpu
  FIXTURE_TEST=build-gpu/tests/rcc_cuda_fixture_test
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
echo "== ops: CUDA vs CPU =="
"$BIN/rcc_cuda_check" || status=1
echo "== models: Hugging Face fixtures, CUDA vs CPU =="
"$FIXTURE_TEST" || status=1
echo "== summary: $([ $status = 0 ] && echo 'all CUDA checks passed' || echo 'CUDA CHECKS FAILED') =="
exit $status
