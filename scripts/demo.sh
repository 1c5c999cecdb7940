#!/usr/bin/env bash
# The quickstart's main job on the bundled model (models/rcc-tiny, the CLI's default): set up, hide a
# random pass key in a long document (WikiText-2 test, ~365k tokens, which the model never saw),
# compress it once into a memory file, then ask about it; then the reference's own example (the cat
# on the sofa among 1000 dogs on stools) with the question compressed along (instruction
# reconstruction). Each answer is printed as JSON on stdout with what was expected.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
KEY=$((10000 + RANDOM % 90000))
DOC=build/demo-book.txt
SRC=../shared/data/text/wikitext-2-test.txt
awk -v L=$(($(wc -l <"$SRC") * 7 / 10)) -v k="$KEY" \
  'NR == L { print " The pass key is " k ". Remember it. " k " is the pass key. " } { print }' \
  "$SRC" >"$DOC"
build/rcc info >&2
build/rcc compress --input "$DOC" --out build/demo.rccm
build/rcc inspect build/demo.rccm >&2
echo "expected pass key: $KEY" >&2
build/rcc ask --memory build/demo.rccm --question "What is the pass key?" --max-new-tokens 16 --json
{
  printf 'The cat sat on the sofa.'
  for _ in $(seq 1000); do printf 'The dog sat on the stool.'; done
} >build/demo-cat.txt
echo "expected: The cat sits on the sofa." >&2
build/rcc ask --context build/demo-cat.txt --question "Where does the cat sit?" --max-new-tokens 48 --json
