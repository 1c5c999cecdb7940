#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp, fuzz/README.md) with clang under AddressSanitizer
# and UndefinedBehaviorSanitizer (CMake option RCC_FUZZ, in its own build folder) and runs each for a
# bounded time from its seeds (fuzz/seeds/<target>) and the corpus it grew before.
# Environment:
#   FUZZ_SECONDS     seconds per target (default 20; 0 = build only)
#   FUZZ_TARGETS     targets to run, by name without _fuzz (default: all; e.g. "memory kv_cache")
#   FUZZ_BUILD_DIR   the build folder; the grown corpora (corpus/<target>), logs (logs/<target>.log)
#                    and crash inputs go there too (default build-fuzz)
#   FUZZ_CXX         the compiler (default clang++; installed with apt-get when missing)
#   FUZZ_JOBS        parallel compile jobs (default: nproc)
#   RCC_FUZZ_TOKENIZER  GPT-NeoX tokenizer.json (default data/tokenizers/gpt-neox-20b/tokenizer.json.gz)
# A crash, a sanitizer report, a leak, a hang (> 20 s on one input) or more than 2 GB of memory
# fails the script: it names the target, leaves the input in $FUZZ_BUILD_DIR (crash-*, leak-*,
# timeout-*, oom-*) and prints how to reproduce it.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
OUT="${FUZZ_BUILD_DIR:-build-fuzz}"
CXX="${FUZZ_CXX:-clang++}"
JOBS="${FUZZ_JOBS:-$(nproc)}"
export RCC_FUZZ_TOKENIZER="${RCC_FUZZ_TOKENIZER:-data/tokenizers/gpt-neox-20b/tokenizer.json.gz}"
export RCC_FUZZ_FIXTURES="${RCC_FUZZ_FIXTURES:-tests/fixtures/tokenizer}"

# clang (libFuzzer comes with it), installed as scripts/setup.sh installs packages.
if ! command -v "$CXX" >/dev/null && [ "$CXX" = clang++ ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "fuzz.sh: installing clang" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >&2
fi
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang)" >&2; exit 1; }

start=$(date +%s)
cmake -S . -B "$OUT" -DCMAKE_CXX_COMPILER="$CXX" -DRCC_FUZZ=ON -DRCC_CUDA=OFF -DRCC_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$OUT" -j"$JOBS" --target rcc_fuzz >&2
echo "fuzz.sh: built the targets in $OUT/fuzz in $(( $(date +%s) - start )) s" >&2
[ "$FUZZ_SECONDS" -gt 0 ] || exit 0

all=()
for src in fuzz/*_fuzz.cpp; do all+=("$(basename "${src%_fuzz.cpp}")"); done
read -r -a targets <<< "${FUZZ_TARGETS:-${all[*]}}"

# Largest input per target: small enough that an input runs in milliseconds, large enough for the
# seeds (and a tokenizer.json or a sharded checkpoint of the tiny model).
max_len() {
  case $1 in
    tokenizer_json | checkpoint) echo 65536 ;;
    safetensors | train_config | task_data | memory | kv_cache | tokenizer) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

# The tokenizer targets read their tokenizers from these paths.
export RCC_FUZZ_TOKENIZER="$(realpath "$RCC_FUZZ_TOKENIZER")"
export RCC_FUZZ_FIXTURES="$(realpath "$RCC_FUZZ_FIXTURES")"
mkdir -p "$OUT/logs"
status=0
for t in "${targets[@]}"; do
  [ -x "$OUT/fuzz/${t}_fuzz" ] || { echo "fuzz.sh: no target $t" >&2; status=1; continue; }
  mkdir -p "$OUT/corpus/$t"
  dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
  log="$OUT/logs/$t.log"
  echo "fuzz.sh: running ${t}_fuzz for ${FUZZ_SECONDS}s" >&2
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$OUT/fuzz/${t}_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" \
      -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/" "${dict[@]}" \
      "$OUT/corpus/$t" "fuzz/seeds/$t" >"$log" 2>&1; then
    # One line: executions, coverage, features, corpus (from the last status line and the stats).
    summary=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    echo "fuzz.sh: ${t}_fuzz ok: ${summary:-$(tail -n 1 "$log")}" >&2
  else
    status=1
    tail -n 60 "$log" >&2
    artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
    echo "fuzz.sh: ${t}_fuzz FAILED (log: $log${artifact:+, input: $artifact})" >&2
    [ -n "$artifact" ] && echo "fuzz.sh: reproduce with: $OUT/fuzz/${t}_fuzz $artifact" >&2
  fi
done
[ "$status" -eq 0 ] && echo "fuzz.sh: no crashes (${#targets[@]} targets, $(( $(date +%s) - start )) s)" >&2
exit "$status"
