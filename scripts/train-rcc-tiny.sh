#!/usr/bin/env bash
# The rcc-tiny recipe (models/rcc-tiny/MODEL_CARD.md): English text from Debian and npm packages,
# a byte-level BPE tokenizer trained by rcc, a GPT-NeoX base model pretrained by rcc, then RCC
# training of encoder + decoder started from that base, then the bf16 release files.
#
#   scripts/train-rcc-tiny.sh [STAGE...]      stages: data base rcc rcc2 export eval (default: all)
#
#   data    scripts/rcc-tiny-data.sh, `rcc data train-tokenizer` (8192 tokens), token shards of the
#           training text, the held-out text and WikiText-2 test (data/rcc-tiny/)
#   base    configs/rcc-tiny/base.json: language modelling only (runs/rcc-tiny/base), then the
#           decoder exported as a GPT-NeoX model (runs/rcc-tiny/base-decoder)
#   rcc     configs/rcc-tiny/rcc.json: both networks from the base, RCC tasks (runs/rcc-tiny/rcc)
#   rcc2    configs/rcc-tiny/rcc2.json: continues it with more passkey, longer contexts
#           (runs/rcc-tiny/rcc2)
#   export  bf16, shards of at most 15 MiB, into models/rcc-tiny (replacing it)
#   eval    the model card's evaluation (bench/rcc_tiny_eval.sh)
#
# Environment: RCC (the rcc binary, default build/rcc), TRAIN_FLAGS (extra flags for `rcc train`,
# default `--device cuda`; e.g. `--gpus 2`), BASE_STEPS / RCC_STEPS / RCC2_STEPS (override the configs' step
# counts). Training takes minutes on one H100 (the model card gives the measured times); on the CPU
# it takes days.
set -euo pipefail
cd "$(dirname "$0")/.."
RCC=${RCC:-build/rcc}
TRAIN_FLAGS=${TRAIN_FLAGS:---device cuda}
D=data/rcc-tiny
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(data base rcc rcc2 export eval)

# A copy of a config with train.steps replaced (when $2 is set).
with_steps() {
  local cfg=$1 steps=${2:-}
  if [ -z "$steps" ]; then echo "$cfg"; return; fi
  local out="runs/rcc-tiny/$(basename "$cfg" .json)-${steps}.json"
  mkdir -p runs/rcc-tiny
  python3 - "$cfg" "$steps" "$out" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["train"]["steps"] = int(sys.argv[2])
json.dump(c, open(sys.argv[3], "w"), indent=2)
EOF
  echo "$out"
}

for stage in "${stages[@]}"; do
  echo "== rcc-tiny: $stage ==" >&2
  case $stage in
    data)
      scripts/rcc-tiny-data.sh "$D/corpus"
      "$RCC" data train-tokenizer --vocab-size 8192 --out "$D/tokenizer.json" "$D"/corpus/train/*.txt
      mkdir -p "$D/tok"
      "$RCC" data tokenize --tokenizer "$D/tokenizer.json" --out "$D/tok/train" "$D"/corpus/train/*.txt
      "$RCC" data tokenize --tokenizer "$D/tokenizer.json" --out "$D/tok/heldout" "$D"/corpus/heldout/*.txt
      "$RCC" data tokenize --tokenizer "$D/tokenizer.json" --out "$D/tok/wikitext" \
        ../shared/data/text/wikitext-2-test.txt
      ;;
    base)
      # shellcheck disable=SC2086
      "$RCC" train --config "$(with_steps configs/rcc-tiny/base.json "${BASE_STEPS:-}")" \
        --out runs/rcc-tiny/base $TRAIN_FLAGS
      rm -rf runs/rcc-tiny/base-decoder
      "$RCC" export --model runs/rcc-tiny/base/model --decoder --dtype f32 \
        --out runs/rcc-tiny/base-decoder
      ;;
    rcc)
      # shellcheck disable=SC2086
      "$RCC" train --config "$(with_steps configs/rcc-tiny/rcc.json "${RCC_STEPS:-}")" \
        --out runs/rcc-tiny/rcc $TRAIN_FLAGS
      ;;
    rcc2)
      # shellcheck disable=SC2086
      "$RCC" train --config "$(with_steps configs/rcc-tiny/rcc2.json "${RCC2_STEPS:-}")" \
        --out runs/rcc-tiny/rcc2 $TRAIN_FLAGS
      ;;
    export)
      rm -rf models/rcc-tiny.new
      "$RCC" export --model runs/rcc-tiny/rcc2/model --dtype bf16 --max-shard-mb 15 \
        --out models/rcc-tiny.new
      [ -f models/rcc-tiny/MODEL_CARD.md ] && cp models/rcc-tiny/MODEL_CARD.md models/rcc-tiny.new/
      rm -rf models/rcc-tiny && mv models/rcc-tiny.new models/rcc-tiny
      ;;
    eval)
      bench/rcc_tiny_eval.sh models/rcc-tiny
      ;;
    *)
      echo "unknown stage '$stage' (data base rcc rcc2 export eval)" >&2
      exit 2
      ;;
  esac
done
