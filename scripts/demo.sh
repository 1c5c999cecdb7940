#!/usr/bin/env bash
# The quickstart's main job on the bundled model (models/rcc-tiny, the CLI's default): set up, hide a
# random pass key in a long document (WikiText-2 test from data/, ~365k tokens, which the model never
# saw), compress it once into a memory file, then ask about it; then the reference's own example (the
# cat on the sofa among 1000 dogs on stools) with the question compressed along (instruction
# reconstruction). Each answer is printed as JSON on stdout; what was expected, and whether the
# answer holds it, on stderr. Progress lines go to stderr even when it is not a terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
KEY=$((10000 + RANDOM % 90000))
DOC=build/demo-book.txt
SRC=data/text/wikitext-2-test.txt.gz
lines=$(gzip -dc "$SRC" | wc -l)
gzip -dc "$SRC" | awk -v L=$((lines * 7 / 10)) -v k="$KEY" \
  'NR == L { print " The pass key is " k ". Remember it. " k " is the pass key. " } { print }' >"$DOC"
build/rcc --version >&2
build/rcc info >&2
build/rcc compress --input "$DOC" --out build/demo.rccm --progress
build/rcc inspect build/demo.rccm >&2

check() {  # expected text, JSON answer
  if printf '%s' "$2" | grep -qF "$1"; then echo "demo: the answer holds '$1'" >&2
  else echo "demo: the answer misses '$1' (the bundled model is small: see models/rcc-tiny/MODEL_CARD.md)" >&2; fi
}
echo "expected pass key: $KEY" >&2
a=$(build/rcc ask --memory build/demo.rccm --question "What is the pass key?" --max-new-tokens 16 \
  --json --progress)
printf '%s\n' "$a"
check "$KEY" "$a"

{
  printf 'The cat sat on the sofa.'
  for _ in $(seq 1000); do printf 'The dog sat on the stool.'; done
} >build/demo-cat.txt
echo "expected: The cat sits on the sofa." >&2
a=$(build/rcc ask --context build/demo-cat.txt --question "Where does the cat sit?" \
  --max-new-tokens 48 --json --progress)
printf '%s\n' "$a"
check "The cat sits on the sofa." "$a"
