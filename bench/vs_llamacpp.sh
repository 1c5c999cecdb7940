#!/usr/bin/env bash
# rcc against llama.cpp on the CPU: the same GPT-NeoX shapes with random weights, at equal
# precision, run alternately in one command, each figure beside its floor on this machine.
#
#   prefill  rcc bench --prompt P (one pass over P tokens)    vs  llama-bench pp<P>
#   decode   rcc bench --decode G --depth 1 (G tokens)        vs  llama-bench tg<G>
#   encoder  rcc compress of ENC_TOKENS tokens (RCC model of the shape, windows of 2048)
#                                                             vs  llama-bench pp2048
# Precision pairs: rcc f32 / llama F32, rcc bf16 / llama BF16, rcc q8 / llama Q8_0 (both int8 with
# one 16-bit scale per 32 weights). Floors (measured by rcc bench in the same run): decode at the
# read bandwidth (bytes of the weights + KV cache per token), prefill at the f32 FMA peak.
#
# Usage: LLAMA_CPP_DIR=/path/to/llama.cpp bench/vs_llamacpp.sh [results.md]
# Environment (defaults): SHAPES (160m; also 1.4b), DTYPES (f32 bf16 q8), THREADS ("1 <nproc>"),
#   PROMPT (512), GEN (64), ROUNDS (2: each pair is run this many times, alternating, best kept),
#   ENCODER (1: also the encoder comparison, 160m), ENC_TOKENS (8192), RCC (build/rcc),
#   PYTHON (/usr/bin/python3, with numpy), BUILD_DIR ($LLAMA_CPP_DIR/build-rcc-bench), JOBS (nproc),
#   LLAMA_CPP_COMMIT (the tree's commit, for the page, where it is not a git checkout),
#   KEEP (a .jsonl of an earlier run whose figures join this run's page).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LLAMA_CPP_DIR:?set LLAMA_CPP_DIR to a llama.cpp source tree}"
LLAMA_CPP_DIR=$(cd "$LLAMA_CPP_DIR" && pwd)
OUT=${1:-bench/results/cpu_vs_llamacpp.md}
SHAPES=${SHAPES:-160m}
DTYPES=${DTYPES:-f32 bf16 q8}
NPROC=$(nproc)
THREADS=${THREADS:-$( [ "$NPROC" -gt 1 ] && echo "1 $NPROC" || echo 1 )}
PROMPT=${PROMPT:-512}
GEN=${GEN:-64}
ROUNDS=${ROUNDS:-2}
ENCODER=${ENCODER:-1}
ENC_TOKENS=${ENC_TOKENS:-8192}
RCC=${RCC:-build/rcc}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD_DIR=${BUILD_DIR:-$LLAMA_CPP_DIR/build-rcc-bench}
JOBS=${JOBS:-$NPROC}
[ -x "$RCC" ] || { echo "vs_llamacpp.sh: $RCC not found (build rcc first: scripts/setup.sh)" >&2; exit 1; }
"$PYTHON" -c 'import numpy' 2>/dev/null || { echo "vs_llamacpp.sh: $PYTHON has no numpy (apt-get install python3-numpy)" >&2; exit 1; }

echo "== building llama-bench in $BUILD_DIR" >&2
cmake -S "$LLAMA_CPP_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF >/dev/null 2>&1
cmake --build "$BUILD_DIR" --target llama-bench -j "$JOBS" >/dev/null
LLAMA_BENCH="$BUILD_DIR/bin/llama-bench"
LLAMA_COMMIT=${LLAMA_CPP_COMMIT:-$(git -C "$LLAMA_CPP_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RAW="$WORK/raw.jsonl"
: > "$RAW"
# KEEP: the raw lines (.jsonl) of an earlier run to report together with this one (e.g. a 1.4b run
# with fewer precisions after a full 160m run).
[ -n "${KEEP:-}" ] && cat "$KEEP" >> "$RAW"

shape_args() {  # gguf_neox.py arguments of a shape (tools/bench_shapes.cpp has the same table)
  case "$1" in
    160m) echo "--hidden 768 --layers 12 --heads 12 --intermediate 3072 --vocab 50304" ;;
    410m) echo "--hidden 1024 --layers 24 --heads 16 --intermediate 4096 --vocab 50304" ;;
    1.4b) echo "--hidden 2048 --layers 24 --heads 16 --intermediate 8192 --vocab 50304" ;;
    *) echo "vs_llamacpp.sh: unknown shape $1" >&2; exit 1 ;;
  esac
}
gguf_type() { case "$1" in f32) echo f32 ;; bf16) echo bf16 ;; q8) echo q8_0 ;; esac; }

gguf_list() {  # "shape dtype" pairs the runs need
  for shape in $SHAPES; do for dt in $DTYPES; do echo "$shape $dt"; done; done
  [ "$ENCODER" = 1 ] && { echo "160m bf16"; echo "160m q8"; }
  return 0
}
gguf_list | sort -u | while read -r shape dt; do
  {
    g=$(gguf_type "$dt")
    echo "== writing $shape $g GGUF" >&2
    # shellcheck disable=SC2046
    LLAMA_CPP_DIR="$LLAMA_CPP_DIR" "$PYTHON" bench/gguf_neox.py $(shape_args "$shape") --dtype "$g" \
      --out "$WORK/$shape-$g.gguf" 2>/dev/null
  }
done

# One rcc run and one llama.cpp run of (shape, dtype, threads), appended to $RAW as JSON lines.
run_pair() {
  local shape=$1 dt=$2 t=$3 round=$4 g
  g=$(gguf_type "$dt")
  echo "== round $round: $shape $dt, $t threads: rcc" >&2
  "$RCC" bench --shapes "$shape" --dtype "$dt" --prompt "$PROMPT" --decode "$GEN" --depth 1 \
    --gemm none --threads "$t" --json |
    "$PYTHON" -c 'import json,sys; j=json.load(sys.stdin); j["who"]="rcc"; j["round"]=int(sys.argv[1]); print(json.dumps(j))' "$round" >> "$RAW"
  echo "== round $round: $shape $dt, $t threads: llama.cpp" >&2
  "$LLAMA_BENCH" -m "$WORK/$shape-$g.gguf" -p "$PROMPT" -n "$GEN" -t "$t" -r 3 -o json 2>/dev/null |
    "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"who":"llama","shape":sys.argv[1],"dtype":sys.argv[2],"threads":int(sys.argv[3]),"round":int(sys.argv[4]),"tests":[{"n_prompt":x["n_prompt"],"n_gen":x["n_gen"],"avg_ts":x["avg_ts"],"stddev_ts":x["stddev_ts"]} for x in r]}))' "$shape" "$dt" "$t" "$round" >> "$RAW"
}

for round in $(seq 1 "$ROUNDS"); do
  for shape in $SHAPES; do
    for t in $THREADS; do
      for dt in $DTYPES; do run_pair "$shape" "$dt" "$t" "$round"; done
    done
  done
done

# The encoder: an RCC model of the 160m shape compresses ENC_TOKENS tokens (windows of 2048).
if [ "$ENCODER" = 1 ]; then
  cat > "$WORK/enc.json" <<JSON
{"model_type": "gpt_neox", "vocab_size": 50304, "hidden_size": 768, "num_hidden_layers": 12,
 "num_attention_heads": 12, "intermediate_size": 3072, "rotary_pct": 0.25, "rotary_emb_base": 10000,
 "max_position_embeddings": 2048, "layer_norm_eps": 1e-5, "use_parallel_residual": true,
 "hidden_act": "gelu", "eos_token_id": 0,
 "rcc": {"window": 2048, "ratio": 32, "mode": "aligned", "memory_dtype": "bf16"}}
JSON
  "$RCC" init --config "$WORK/enc.json" --out "$WORK/enc-bf16" --dtype bf16 >/dev/null 2>&1
  "$RCC" export --model "$WORK/enc-bf16" --out "$WORK/enc-q8" --dtype q8 >/dev/null 2>&1
  "$PYTHON" -c 'import sys; n=int(sys.argv[1]); print("[" + ",".join(str((i*7919) % 50304) for i in range(n)) + "]")' \
    "$ENC_TOKENS" > "$WORK/ids.json"
  for round in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
      for dt in bf16 q8; do
        g=$(gguf_type "$dt")
        echo "== round $round: encoder $dt, $t threads" >&2
        rm -f "$WORK/m.rccm"
        "$RCC" compress --model "$WORK/enc-$dt" --input-ids "$WORK/ids.json" --out "$WORK/m.rccm" \
          --threads "$t" --quiet --json |
          "$PYTHON" -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps({"who":"rcc-encoder","dtype":sys.argv[1],"threads":int(sys.argv[2]),"round":int(sys.argv[3]),"tokens_per_s":j["tokens_added"]/j["seconds"]}))' "$dt" "$t" "$round" >> "$RAW"
        "$LLAMA_BENCH" -m "$WORK/160m-$g.gguf" -p 2048 -n 0 -t "$t" -r 2 -o json 2>/dev/null |
          "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"who":"llama-encoder","dtype":sys.argv[1],"threads":int(sys.argv[2]),"round":int(sys.argv[3]),"tokens_per_s":r[0]["avg_ts"]}))' "$dt" "$t" "$round" >> "$RAW"
      done
    done
  done
fi

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
FLAGS=$(grep -m1 -o -w -E 'avx512f|avx512_bf16|avx512_vnni|amx_int8|amx_bf16|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')
"$PYTHON" bench/vs_llamacpp_report.py "$RAW" \
  --machine "$CPU, $NPROC vCPUs ($FLAGS), $(free -g | awk '/Mem:/{print $2}') GiB RAM" \
  --command "LLAMA_CPP_DIR=... SHAPES='$SHAPES' THREADS='$THREADS' ROUNDS=$ROUNDS bench/vs_llamacpp.sh" \
  --llama "$LLAMA_COMMIT" --rcc "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --prompt "$PROMPT" --gen "$GEN" --enc-tokens "$ENC_TOKENS" > "$OUT"
cp "$RAW" "${OUT%.md}.jsonl"
cat "$OUT"
