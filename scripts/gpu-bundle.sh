#!/usr/bin/env bash
# Builds the CUDA binaries on this (GPU-less) machine and collects them with the shared libraries a
# bare GPU host may lack (utf8proc, PCRE2) into gpu-bundle/, so that
# scripts/gpu-check.sh and bench/gpu_rcc.sh can run on a GPU host that has the NVIDIA driver and the
# CUDA runtime/cuBLAS but no build dependencies. Portable CPU code (x86-64-v3: AVX2, FMA), sm_90.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
cmake -S . -B "$BUILD_DIR" -DRCC_CUDA=ON -DRCC_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="-march=x86-64-v3" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target rcc rcc_cuda_check rcc_cuda_train_check \
  rcc_cuda_attn_bwd_check rcc_cuda_fp8_check rcc_cuda_fixture_test rcc_cuda_train_test
rm -rf gpu-bundle && mkdir -p gpu-bundle/lib
cp "$BUILD_DIR/rcc" "$BUILD_DIR/rcc_cuda_check" "$BUILD_DIR/rcc_cuda_train_check" \
  "$BUILD_DIR/rcc_cuda_attn_bwd_check" "$BUILD_DIR/rcc_cuda_fp8_check" \
  "$BUILD_DIR/tests/rcc_cuda_fixture_test" \
  "$BUILD_DIR/tests/rcc_cuda_train_test" gpu-bundle/
strip gpu-bundle/rcc gpu-bundle/rcc_cuda_*
for lib in libutf8proc.so.2 libpcre2-8.so.0; do
  path=$(ldd "$BUILD_DIR/rcc" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] && cp -L "$path" gpu-bundle/lib/
done
du -sh gpu-bundle >&2
