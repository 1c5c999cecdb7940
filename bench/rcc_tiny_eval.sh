#!/usr/bin/env bash
# The evaluation of models/rcc-tiny (its MODEL_CARD.md and bench/results/rcc_tiny.md), with
# `rcc eval` and `rcc ask`:
#   passkey retrieval in real text (5-digit keys, depth uniform) at 4k, 32k, 128k and 1M tokens;
#   the reference's example (the cat on the sofa among 1000 dogs on stools, instruction
#   reconstruction); bAbI qa1 and qa2 test stories (never trained on) in 8k- and 64k-token
#   haystacks of held-out text; reconstruction BLEU-4 at 32x on WikiText-2 test.
#
#   bench/rcc_tiny_eval.sh [MODEL_DIR] [OUT.jsonl]
# MODEL_DIR defaults to models/rcc-tiny; OUT.jsonl (one JSON line per test) to
# /tmp/rcc_tiny_eval.jsonl, outside the repository.
# Environment: RCC (binary, default build/rcc), DEVICE (default cuda), SAMPLES_SCALE (multiplies
# the sample counts, default 1), HELDOUT (held-out haystack text, default the bundled
# data/text/rcc-tiny-heldout), DATA (token shards of the training text for the 1M-token pass keys,
# default data/rcc-tiny/tok/train* from `scripts/train-rcc-tiny.sh data`: no bundled text is that
# long).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/rcc-tiny}
OUT=${2:-/tmp/rcc_tiny_eval.jsonl}
RCC=${RCC:-build/rcc}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-data/rcc-tiny/tok}
HELDOUT=${HELDOUT:-data/text/rcc-tiny-heldout}
S=${SAMPLES_SCALE:-1}
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
n() { python3 -c "print(max(1, int($1 * $S)))"; }

run() {  # label, then rcc eval arguments
  local label=$1
  shift
  echo "== $label ==" >&2
  local t0 j
  t0=$(date +%s.%N)
  j=$("$RCC" eval "$@" --model "$MODEL" --device "$DEVICE" --json --quiet)
  python3 - "$label" "$j" "$t0" >>"$OUT" <<'EOF'
import json, sys, time
label, j, t0 = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
j["label"] = label
j["wall_s"] = round(time.time() - t0, 2)
print(json.dumps(j))
print(f"{label}: accuracy {j['accuracy']:.4f} ({j['correct']}/{j['samples']})"
      + (f", BLEU-4 {j['bleu4']:.4f}" if 'bleu4' in j else "")
      + (f", F1 {j['f1']:.4f}" if 'f1' in j else ""), file=sys.stderr)
EOF
}

for len in 4096 32768 131072; do
  run "passkey-$len" passkey --samples "$(n $((len > 32768 ? 50 : 200)))" --min-tokens $len \
    --max-tokens $len --digits 5 --set "haystack=$HELDOUT"
done
run "passkey-1048576" passkey --samples "$(n 20)" --min-tokens 1048576 --max-tokens 1048576 \
  --digits 5 --set "haystack=$DATA/train*"

for task in qa1_single-supporting-fact qa2_two-supporting-facts; do
  for len in 8192 65536; do
    run "babi-${task%%_*}-$len" babi --samples "$(n $((len > 8192 ? 100 : 200)))" --mode manual \
      --set "data=data/babi/${task}_test.txt.gz,haystack=$HELDOUT,haystack_min_tokens=$len,haystack_max_tokens=$len"
  done
done

run "reconstruct-wikitext" reconstruct --samples "$(n 200)" --cue 16 --data data/text/wikitext-2-test.txt.gz

# The reference's own example (docs/spec.md §4.5), asked with instruction reconstruction.
ctx=$(mktemp)
python3 -c "import sys; sys.stdout.write('The cat sat on the sofa.' + 'The dog sat on the stool.' * 1000)" >"$ctx"
echo "== cat-sofa ==" >&2
a=$("$RCC" ask --model "$MODEL" --device "$DEVICE" --context "$ctx" \
  --question "Where does the cat sit?" --json --quiet)
rm -f "$ctx"
python3 - "$a" >>"$OUT" <<'EOF'
import json, sys
a = json.loads(sys.argv[1])
ans = a.get("answer", "")
ok = ans.strip() == "The cat sits on the sofa."
print(json.dumps({"label": "cat-sofa-ir", "answer": ans, "correct": int(ok), "samples": 1,
                  "accuracy": float(ok), "raw": a}))
print(f"cat-sofa-ir: {ans!r} ({'correct' if ok else 'wrong'})", file=sys.stderr)
EOF
echo "wrote $OUT" >&2
