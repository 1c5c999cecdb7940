#!/usr/bin/env bash
# Builds the tokenizer fuzz targets (fuzz/*.cpp) with clang++ -fsanitize=fuzzer,address,undefined
# and runs each for a bounded time. Kept out of the CMake build so that the g++ build never needs
# clang.
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60; 0 = build only)
#   FUZZ_BUILD_DIR   where objects, binaries and the growing corpora go (default build-fuzz)
#   FUZZ_CXX         the compiler (default clang++)
#   FUZZ_JOBS        parallel compile jobs (default: nproc)
#   RCC_FUZZ_TOKENIZER  GPT-NeoX tokenizer.json (default data/tokenizers/gpt-neox-20b/tokenizer.json.gz)
# A crash leaves its input in $FUZZ_BUILD_DIR (crash-*, leak-*, timeout-*) and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
OUT="${FUZZ_BUILD_DIR:-build-fuzz}"
CXX="${FUZZ_CXX:-clang++}"
JOBS="${FUZZ_JOBS:-$(nproc)}"
export RCC_FUZZ_TOKENIZER="${RCC_FUZZ_TOKENIZER:-data/tokenizers/gpt-neox-20b/tokenizer.json.gz}"
export RCC_FUZZ_FIXTURES="${RCC_FUZZ_FIXTURES:-tests/fixtures/tokenizer}"

command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang)" >&2; exit 1; }
mkdir -p "$OUT/obj"
CXXFLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -Isrc -Wall -Wextra -Wno-unused-parameter
          -fsanitize=address,undefined -fno-sanitize-recover=undefined)
LIBS=($(pkg-config --libs libutf8proc libpcre2-8 zlib))

# The tokenizer library (with the text-file and JSON readers it loads tokenizer.json through), instrumented
# for coverage (fuzzer-no-link), compiled once for both targets. The tokenizer trainer
# (bpe_trainer*, bpe_word_counts: it needs the thread pool) is not fuzzed here.
srcs=(src/core/text_file.cpp src/core/json_fields.cpp)
for src in src/tokenizer/*.cpp; do
  case $(basename "$src") in bpe_trainer* | bpe_word_counts*) ;; *) srcs+=("$src") ;; esac
done
objs=()
for src in "${srcs[@]}"; do objs+=("$OUT/obj/$(basename "${src%.cpp}").o"); done
for src in "${srcs[@]}"; do
  obj="$OUT/obj/$(basename "${src%.cpp}").o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src/tokenizer src/core -name '*.h' -newer "$obj")" ]; then
    echo "$CXX ${CXXFLAGS[*]} -fsanitize=fuzzer-no-link -c $src -o $obj"
  fi
done | xargs -P "$JOBS" -I{} sh -c '{}' >&2
for t in tokenizer_fuzz tokenizer_json_fuzz; do
  "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer "fuzz/$t.cpp" "${objs[@]}" "${LIBS[@]}" -o "$OUT/$t" >&2
done
echo "fuzz.sh: built $OUT/tokenizer_fuzz and $OUT/tokenizer_json_fuzz" >&2
[ "$FUZZ_SECONDS" -gt 0 ] || exit 0

run() {  # target, max_len, seed dir
  local t=$1 max_len=$2 seeds=$3
  mkdir -p "$OUT/corpus-$t"
  echo "fuzz.sh: running $t for ${FUZZ_SECONDS}s" >&2
  (cd "$OUT" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "./$t" -max_total_time="$FUZZ_SECONDS" -max_len="$max_len" -timeout=20 -rss_limit_mb=4096 \
     -print_final_stats=1 "corpus-$t" "$OLDPWD/$seeds" 2>&1 | tail -n 25) >&2
}
# The targets read their tokenizers relative to the repository root.
export RCC_FUZZ_TOKENIZER="$(realpath "$RCC_FUZZ_TOKENIZER")"
export RCC_FUZZ_FIXTURES="$(realpath "$RCC_FUZZ_FIXTURES")"
status=0
run tokenizer_fuzz 8192 fuzz/seeds/text || status=1
run tokenizer_json_fuzz 65536 fuzz/seeds/json || status=1
[ "$status" -eq 0 ] && echo "fuzz.sh: no crashes" >&2
exit "$status"
