#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the release build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (skip with RCC_SKIP_SANITIZE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh -DRCC_WERROR=ON
# The server's client tests (tests/server) need Node.js and the official openai package.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >&2
fi
npm ci --prefix tests/server --no-audit --no-fund --loglevel=error >&2
(cd build && ctest --output-on-failure -j"$(nproc)")
if [ "${RCC_SKIP_SANITIZE:-0}" != "1" ]; then
  BUILD_DIR=build-asan scripts/setup.sh -DRCC_WERROR=ON -DRCC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$(nproc)")
fi
scripts/fuzz.sh  # every fuzz target (fuzz/README.md; clang libFuzzer), FUZZ_SECONDS each (default 20)
echo "all tests passed" >&2
