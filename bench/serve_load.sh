#!/usr/bin/env bash
# rcc serve under load (bench/results/serve.md): starts the server on a free port with a fresh store,
# stores one memory (a pass key hidden in WikiText-2 text, TOKENS tokens), then runs 1, 4 and 16
# concurrent clients, each asking QUESTIONS pass-key questions (greedy, MAX_TOKENS), and prints one
# JSON line per level. Baseline in the same command: the same question through the CLI, one
# `rcc ask --memory` process per question (what an application does without a server), run
# serially. Environment: RCC (binary, default build/rcc), MODEL (default models/rcc-tiny), DEVICE
# (cpu), TOKENS (20000), QUESTIONS (8 per client), MAX_TOKENS (16), LEVELS ("1 4 16"), CACHE_MIB
# (the server's --cache-mib; its default when unset), SERVE_LOG (a file to keep the server's log in).
# The load driver is serve_load.mjs under Node.js, else serve_load.py (same requests, same line).
set -euo pipefail
cd "$(dirname "$0")/.."
RCC="${RCC:-build/rcc}"; MODEL="${MODEL:-models/rcc-tiny}"; DEVICE="${DEVICE:-cpu}"
TOKENS="${TOKENS:-20000}"; QUESTIONS="${QUESTIONS:-8}"; MAX_TOKENS="${MAX_TOKENS:-16}"
LEVELS="${LEVELS:-1 4 16}"; CACHE_MIB="${CACHE_MIB:-}"; SERVE_LOG="${SERVE_LOG:-}"
if command -v node > /dev/null; then LOAD=(node bench/serve_load.mjs); else LOAD=(python3 bench/serve_load.py); fi
work=$(mktemp -d); pid=""
trap '[ -z "$pid" ] || kill $pid 2>/dev/null || true
      [ -z "$SERVE_LOG" ] || cp "$work/serve.log" "$SERVE_LOG" 2>/dev/null || true; rm -rf "$work"' EXIT
KEY=$((10000 + RANDOM % 90000))
gzip -dc data/text/wikitext-2-test.txt.gz > "$work/all.txt"
head -c $((TOKENS * 4)) "$work/all.txt" > "$work/doc.txt"
printf ' The pass key is %s. Remember it. %s is the pass key. ' "$KEY" "$KEY" >> "$work/doc.txt"
tail -c 20000 "$work/all.txt" >> "$work/doc.txt"

"$RCC" serve --model "$MODEL" --device "$DEVICE" --port 0 --store "$work/store" --parallel 16 \
  ${CACHE_MIB:+--cache-mib "$CACHE_MIB"} 2> "$work/serve.log" & pid=$!
for _ in $(seq 600); do grep -q 'listening on' "$work/serve.log" && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)
MEM=$(curl -sf "$URL/v1/memories" -H 'Content-Type: text/plain' --data-binary @"$work/doc.txt" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$URL/v1/memories/$MEM" | grep -q '"status":"ready"'; do sleep 0.2; done
curl -sf "$URL/v1/memories/$MEM" >&2; echo >&2
echo "{\"machine\":\"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"date\":\"$(date -u +%FT%TZ)\",\"device\":\"$DEVICE\",\"model\":\"$MODEL\"}"
"${LOAD[@]}" "$URL" "$MEM" "$KEY" 1 2 "$MAX_TOKENS" > /dev/null  # warm-up
for c in $LEVELS; do "${LOAD[@]}" "$URL" "$MEM" "$KEY" "$c" "$QUESTIONS" "$MAX_TOKENS"; done
"${LOAD[@]}" "$URL" "$MEM" "$KEY" 4 "$QUESTIONS" "$MAX_TOKENS" stream
# Whether the memory prefix stayed cached (a miss is a prefill of the whole memory).
curl -sf "$URL/metrics" | grep -E '^rcc_decoder_cache_(hits|misses)_total' >&2 || true
kill $pid; wait $pid || true; pid=""

# Baseline: one CLI process per question on the same memory (saved by the server), serially.
cp "$work/store/memories/$MEM.rccm" "$work/m.rccm"
start=$(date +%s.%N); ok=0; n=$QUESTIONS
for _ in $(seq "$n"); do
  a=$("$RCC" ask --model "$MODEL" --device "$DEVICE" --memory "$work/m.rccm" \
      --question "What is the pass key?" --max-new-tokens "$MAX_TOKENS" --quiet)
  case "$a" in *"$KEY"*) ok=$((ok + 1)) ;; esac
done
end=$(date +%s.%N)
python3 -c "import json; s=$end-$start; print(json.dumps({'baseline':'rcc ask per question','requests':$n,'seconds':round(s,3),'requests_per_s':round($n/s,2),'mean_ms':round(1000*s/$n,1),'right':$ok}))"
