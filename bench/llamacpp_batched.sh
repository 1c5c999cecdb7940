#!/usr/bin/env bash
# llama.cpp CPU baseline for batched decoding, to compare with rcc's batched decoding.
#
# What it measures: llama.cpp's `llama-batched-bench` on GPT-NeoX models with
# random weights (written by bench/gguf_neox.py) of two shapes:
#   tiny : hidden 256, 6 layers, 4 heads, ffn 1024, vocab 8192,  rotary_pct 0.25, rope base 500000
#   160m : hidden 768, 12 layers, 12 heads, ffn 3072, vocab 50304, rotary_pct 0.25, rope base 10000 (Pythia-160m)
# For each shape, each number of parallel sequences npl in NPL, and both prompt modes
# (shared = one PROMPT-token prompt decoded once and copied to every sequence, -pps;
#  not shared = every sequence prefills its own PROMPT-token prompt), llama.cpp prefills,
# then decodes GEN tokens per sequence, all npl sequences in one batch per llama_decode
# call. Each (shape, mode, npl) is one llama-batched-bench invocation with a context of
# npl*(PROMPT+GEN) cells and n_seq_max = npl. Reported per run:
#   tg_tok_s         generated tokens/s over all sequences (S_TG = npl*gen / T_TG)
#   token_latency_ms time of one decoding step, T_TG / gen (each step yields npl tokens)
#   prefill_tok_s    prompt tokens/s (S_PP; shared: prompt/T_PP, not shared: npl*prompt/T_PP)
#   others_cpu_frac  share of the machine's CPU that other processes used during the run;
#                    well above 0 means the numbers are disturbed (the machine may be shared)
# Before each run the script waits (up to QUIET_WAIT s) for the machine to be quiet. A run
# that took under REPEAT_MAX_S s is done MIN_RUNS times; a disturbed run (others_cpu_frac >
# QUIET) is redone, up to RETRIES+1 attempts in all, if it took under RETRY_MAX_S s. Of the attempts,
# the undisturbed one with the best S_TG is reported (else the least disturbed one); every
# attempt's S_TG and others_cpu_frac are listed too.
#
# Usage: LLAMA_CPP_DIR=/path/to/llama.cpp bench/llamacpp_batched.sh [out.json]
# Output: JSON lines (one per shape x mode x npl) to out.json (default
# llamacpp_batched.json) and to stdout, then a table on stderr.
# Environment (defaults): THREADS (nproc), PROMPT (512), GEN (32), NPL (1,4,16,64),
#   SHAPES ("tiny 160m"), MODES ("0 1": 0 = not shared, 1 = shared),
#   DTYPE (f32: weights dtype, also f16 / bf16),
#   KVU (0; 1 = llama.cpp's unified KV cache, -kvu), FA (llama.cpp default, auto: on for CPU),
#   KV_TYPE (llama.cpp default, f16; e.g. f32 for -ctk/-ctv f32), UBATCH (512), BATCH (2048),
#   QUIET (0.15), QUIET_WAIT (60), MIN_RUNS (2), REPEAT_MAX_S (30), RETRIES (2), RETRY_MAX_S (90),
#   JOBS (nproc, build parallelism), PYTHON (a python3 with numpy),
#   BUILD_DIR ($LLAMA_CPP_DIR/build-rcc-bench), KEEP_GGUF (unset; a directory to keep the models in).
set -euo pipefail

: "${LLAMA_CPP_DIR:?set LLAMA_CPP_DIR to a llama.cpp source tree}"
LLAMA_CPP_DIR=$(cd "$LLAMA_CPP_DIR" && pwd)
OUT=${1:-llamacpp_batched.json}
THREADS=${THREADS:-$(nproc)}
PROMPT=${PROMPT:-512}
GEN=${GEN:-32}
NPL=${NPL:-1,4,16,64}
SHAPES=${SHAPES:-tiny 160m}
MODES=${MODES:-0 1}
DTYPE=${DTYPE:-f32}
KVU=${KVU:-0}
FA=${FA:-}
KV_TYPE=${KV_TYPE:-}
UBATCH=${UBATCH:-512}
BATCH=${BATCH:-2048}
QUIET=${QUIET:-0.15}
QUIET_WAIT=${QUIET_WAIT:-60}
MIN_RUNS=${MIN_RUNS:-2}
REPEAT_MAX_S=${REPEAT_MAX_S:-30}
RETRIES=${RETRIES:-2}
RETRY_MAX_S=${RETRY_MAX_S:-90}
JOBS=${JOBS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-$LLAMA_CPP_DIR/build-rcc-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "[llamacpp_batched] $*" >&2; }

# --- a python with numpy (the gguf package comes from $LLAMA_CPP_DIR/gguf-py) ---
if [[ -z "${PYTHON:-}" ]]; then
    for p in python3 /usr/bin/python3 python; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then
            PYTHON=$p; break
        fi
    done
fi
[[ -n "${PYTHON:-}" ]] || { log "no python3 with numpy found (Debian: apt-get install python3-numpy)"; exit 1; }

# --- llama.cpp version ---
COMMIT=unknown
if git -C "$LLAMA_CPP_DIR" rev-parse HEAD >/dev/null 2>&1; then
    COMMIT=$(git -C "$LLAMA_CPP_DIR" rev-parse HEAD)
elif [[ -f "$LLAMA_CPP_DIR/COMMIT_SHA" ]]; then
    COMMIT=$(tr -d '[:space:]' < "$LLAMA_CPP_DIR/COMMIT_SHA")
fi

# --- build llama-batched-bench (CPU only, native) if needed ---
BIN=$BUILD_DIR/bin/llama-batched-bench
if [[ ! -x "$BIN" ]]; then
    if [[ -d "$LLAMA_CPP_DIR/tools/batched-bench" ]]; then examples=OFF; else examples=ON; fi
    log "building llama-batched-bench in $BUILD_DIR (jobs $JOBS)"
    cmake -S "$LLAMA_CPP_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_EXAMPLES=$examples >&2
    cmake --build "$BUILD_DIR" --target llama-batched-bench -j "$JOBS" >&2
fi
[[ -x "$BIN" ]] || { log "build produced no $BIN"; exit 1; }

JSONL_FLAG=()
if "$BIN" --help 2>&1 | grep -q -- '--output-format'; then JSONL_FLAG=(--output-format jsonl); fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rcc-llamacpp-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
MODEL_DIR=${KEEP_GGUF:-$TMP}
mkdir -p "$MODEL_DIR"

# --- helper: wait for a quiet machine, run with CPU accounting, parse, tabulate ---
HELPER=$TMP/helper.py
cat > "$HELPER" <<'EOF'
import json, os, re, subprocess, sys, time

def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)              # (busy, total) jiffies, idle+iowait excluded

def quiet(limit, max_wait):
    """Wait until the machine was busy < limit over a 2 s window, at most max_wait s."""
    t0 = time.time()
    while True:
        b0, a0 = busy(); time.sleep(2); b1, a1 = busy()
        frac = (b1 - b0) / max(1, a1 - a0)
        if frac < limit or time.time() - t0 >= max_wait:
            print(f"{frac:.2f} {time.time() - t0:.0f}")
            return

def run(log, cpu_out, cmd):
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    (b0, _), t0 = busy(), time.time()
    with open(log, "wb") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall, own = time.time() - t0, ru.ru_utime + ru.ru_stime
    others = max(0.0, (busy()[0] - b0) / hz - own)
    json.dump({"wall_s": round(wall, 2), "cpu_s": round(own, 2), "others_cpu_s": round(others, 2),
               "others_cpu_frac": round(others / (wall * ncpu), 3)}, open(cpu_out, "w"))
    return os.waitstatus_to_exitcode(status)

def read_rows(runlog):
    rows, fa = [], None
    for line in open(runlog, errors="replace"):
        line = line.strip()
        if line.startswith("{") and '"speed_tg"' in line:     # --output-format jsonl
            d = json.loads(line)
            fa = d.get("flash_attn")
            rows.append((d["pp"], d["tg"], d["pl"], d["n_kv"], d["t_pp"], d["speed_pp"], d["t_tg"], d["speed_tg"]))
            continue
        m = re.search(r"flash_attn = (-?\d+)", line)
        if m:
            fa = int(m.group(1))
        cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[0]):  # older versions: markdown table
            v = [float(c) for c in cells]
            rows.append((int(v[0]), int(v[1]), int(v[2]), int(v[3]), v[4], v[5], v[6], v[7]))
    if not rows:
        sys.exit(f"no results parsed from {runlog}")
    return rows, fa

def parse(base, n, quiet_limit, meta):
    att = []
    for i in range(1, n + 1):
        rows, fa = read_rows(f"{base}.{i}.log")
        att.append((rows, fa, json.load(open(f"{base}.{i}.cpu"))))
    calm = [a for a in att if a[2]["others_cpu_frac"] <= quiet_limit]
    if calm:
        rows, fa, cpu = max(calm, key=lambda a: sum(r[7] for r in a[0]))
    else:
        rows, fa, cpu = min(att, key=lambda a: a[2]["others_cpu_frac"])
    for k, (pp, tg, pl, n_kv, t_pp, s_pp, t_tg, s_tg) in enumerate(rows):
        print(json.dumps({
            "engine": "llama.cpp", "commit": meta["commit"], "shape": meta["shape"], "dtype": meta["dtype"],
            "shared": meta["shared"] == "1", "npl": pl, "prompt": pp, "gen": tg, "threads": int(meta["threads"]),
            "tg_tok_s": round(s_tg, 3), "token_latency_ms": round(1000.0 * t_tg / tg, 4),
            "prefill_tok_s": round(s_pp, 3), "t_pp_s": t_pp, "t_tg_s": t_tg, "n_kv": n_kv,
            "kv_unified": meta["kvu"] == "1", "kv_type": meta["kv_type"] or "f16",
            "flash_attn": {-1: "auto", 0: "off", 1: "on"}.get(fa, fa),
            "others_cpu_frac": cpu["others_cpu_frac"], "attempts": n,
            "tg_tok_s_attempts": [round(a[0][k][7], 3) for a in att],
            "others_cpu_frac_attempts": [a[2]["others_cpu_frac"] for a in att],
            "load_avg_start": meta["load"],
        }))

def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    print(f"{'shape':6} {'shared':6} {'npl':>4} {'S_TG tok/s':>11} {'step ms':>9} {'prefill tok/s':>14} {'others cpu':>10}")
    for r in rows:
        print(f"{r['shape']:6} {str(r['shared']).lower():6} {r['npl']:4d} {r['tg_tok_s']:11.1f} "
              f"{r['token_latency_ms']:9.2f} {r['prefill_tok_s']:14.1f} {r['others_cpu_frac']:10.2f}")

if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "quiet":
        quiet(float(args[0]), float(args[1]))
    elif what == "run":
        sys.exit(run(args[0], args[1], args[2:]))
    elif what == "others":
        print(json.load(open(args[0]))["others_cpu_frac"])
    elif what == "parse":
        parse(args[0], int(args[1]), float(args[2]), dict(a.split("=", 1) for a in args[3:]))
    elif what == "table":
        table(args[0])
EOF

shape_args() {
    case "$1" in
        tiny) echo "--hidden 256 --layers 6 --heads 4 --intermediate 1024 --vocab 8192 --rotary-pct 0.25 --rope-base 500000 --ctx 2048" ;;
        160m) echo "--hidden 768 --layers 12 --heads 12 --intermediate 3072 --vocab 50304 --rotary-pct 0.25 --rope-base 10000 --ctx 2048" ;;
        *) log "unknown shape $1"; return 1 ;;
    esac
}

# float comparison a > b
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
log "llama.cpp $COMMIT; threads $THREADS; prompt $PROMPT; gen $GEN; npl $NPL; dtype $DTYPE; load average at start: $LOAD_START"

: > "$OUT"
for shape in $SHAPES; do
    gguf=$MODEL_DIR/gptneox-$shape-$DTYPE.gguf
    if [[ ! -f "$gguf" ]]; then
        # shellcheck disable=SC2046
        LLAMA_CPP_DIR=$LLAMA_CPP_DIR "$PYTHON" "$HERE/gguf_neox.py" $(shape_args "$shape") --dtype "$DTYPE" --out "$gguf"
    fi
    for shared in $MODES; do
        for npl in ${NPL//,/ }; do
            ctx=$(( npl * (PROMPT + GEN) ))
            args=(-m "$gguf" -t "$THREADS" -tb "$THREADS" -c "$ctx" -b "$BATCH" -ub "$UBATCH"
                  -npp "$PROMPT" -ntg "$GEN" -npl "$npl" "${JSONL_FLAG[@]}")
            [[ $shared == 1 ]] && args+=(-pps)
            [[ $KVU == 1 ]] && args+=(-kvu)
            [[ -n $FA ]] && args+=(-fa "$FA")
            [[ -n $KV_TYPE ]] && args+=(-ctk "$KV_TYPE" -ctv "$KV_TYPE")
            base=$TMP/run-$shape-$shared-$npl
            attempt=0
            while :; do
                attempt=$((attempt + 1))
                read -r qfrac qwait < <("$PYTHON" "$HELPER" quiet "$QUIET" "$QUIET_WAIT")
                log "$shape shared=$shared npl=$npl attempt $attempt (machine busy $qfrac after ${qwait}s wait): llama-batched-bench ${args[*]}"
                if ! "$PYTHON" "$HELPER" run "$base.$attempt.log" "$base.$attempt.cpu" "$BIN" "${args[@]}"; then
                    tail -30 "$base.$attempt.log" >&2
                    log "llama-batched-bench failed ($shape, shared=$shared, npl=$npl)"
                    exit 1
                fi
                frac=$("$PYTHON" "$HELPER" others "$base.$attempt.cpu")
                wall=$(sed 's/.*"wall_s": \([0-9.]*\).*/\1/' "$base.$attempt.cpu")
                log "  done: $(cat "$base.$attempt.cpu")"
                if (( attempt < MIN_RUNS )) && ! gt "$wall" "$REPEAT_MAX_S"; then continue; fi
                if gt "$frac" "$QUIET" && (( attempt <= RETRIES )) && ! gt "$wall" "$RETRY_MAX_S"; then continue; fi
                break
            done
            "$PYTHON" "$HELPER" parse "$base" "$attempt" "$QUIET" commit="$COMMIT" shape="$shape" \
                dtype="$DTYPE" shared="$shared" threads="$THREADS" kvu="$KVU" kv_type="$KV_TYPE" \
                load="$LOAD_START" >> "$OUT"
        done
    done
done
log "total benchmark time $(( $(date +%s) - T_START )) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

cat "$OUT"
"$PYTHON" "$HELPER" table "$OUT" >&2
