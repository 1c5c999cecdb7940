#!/usr/bin/env bash
# The CUDA backend's checks, on a GPU host: every op against the CPU backend (rcc_cuda_check, which
# also times cuBLAS, the fused attention and the decode attention), the training ops and the
# attention backward (rcc_cuda_train_check, rcc_cuda_attn_bwd_check), the FP8 linear layers
# (rcc_cuda_fp8_check) and the FP8 encoder on the bundled model (scripts/gpu-fp8-model-check.sh),
# then the Hugging Face
# fixtures and CUDA-vs-CPU model checks (rcc_cuda_fixture_test) and CUDA training against the CPU
# trainer and PyTorch (rcc_cuda_train_test). Uses gpu-bundle/ (scripts/gpu-bundle.sh)
# when present, else configures and builds build-gpu/ here. Prints a summary; exit status 1 when
# any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x gpu-bundle/rcc ]; then
  BIN=gpu-bundle
  TEST_BIN=gpu-bundle
  export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  # The bundle's tests were built elsewhere: point them at this tree.
  export RCC_FIXTURES_DIR="$PWD/tests/fixtures" RCC_SOURCE_DIR="$PWD" RCC_BINARY="$PWD/gpu-bundle/rcc"
else
  cmake -S . -B build-gpu -DRCC_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
  cmake --build build-gpu -j"$(nproc)" --target rcc rcc_cuda_check rcc_cuda_train_check \
    rcc_cuda_attn_bwd_check rcc_cuda_fp8_check rcc_cuda_fixture_test rcc_cuda_train_test || exit 1
  BIN=build-gpu
  TEST_BIN=build-gpu/tests
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
echo "== ops: CUDA vs CPU =="
"$BIN/rcc_cuda_check" || status=1
echo "== training ops: CUDA vs CPU =="
"$BIN/rcc_cuda_train_check" || status=1
echo "== attention backward: CUDA vs CPU =="
"$BIN/rcc_cuda_attn_bwd_check" || status=1
echo "== FP8 linear layers: quantisation and products against the host =="
"$BIN/rcc_cuda_fp8_check" || status=1
echo "== FP8 encoder on the bundled model, against bf16 =="
RCC="$BIN/rcc" bash scripts/gpu-fp8-model-check.sh || status=1
echo "== models: Hugging Face fixtures, CUDA vs CPU =="
"$TEST_BIN/rcc_cuda_fixture_test" || status=1
echo "== training: CUDA vs the CPU trainer and PyTorch =="
"$TEST_BIN/rcc_cuda_train_test" || status=1
echo "== summary: $([ $status = 0 ] && echo 'all CUDA checks passed' || echo 'CUDA CHECKS FAILED') =="
exit $status
