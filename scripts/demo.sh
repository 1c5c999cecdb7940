#!/usr/bin/env bash
# The quickstart's main job: set up, then compress a long document and ask a question about it.
# Until rcc ships a trained model, this runs on a small RANDOM model (configs/demo-random.json with
# the real GPT-NeoX tokenizer): every step is real, the answer is noise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
MODEL=build/demo-model
DOC=../shared/data/text/wikitext-2-test.txt
[ -f "$MODEL/config.json" ] || build/rcc init --config configs/demo-random.json --out "$MODEL" \
  --tokenizer ../shared/data/tokenizers/gpt-neox-20b/tokenizer.json --dtype bf16
build/rcc info --model "$MODEL" >&2
build/rcc compress --model "$MODEL" --input "$DOC" --out build/demo.rccm
build/rcc inspect build/demo.rccm >&2
build/rcc ask --model "$MODEL" --memory build/demo.rccm --question "What is the document about?" \
  --max-new-tokens 24 --json
