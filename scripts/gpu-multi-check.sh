#!/usr/bin/env bash
# Multi-GPU data parallelism check, on a host with 2+ GPUs: the same training run (configs/
# ci-passkey.json, 60 steps, logged every 10) on one GPU and with `--gpus N`. Every rank draws the
# same global batch and the gradients are summed through NCCL, so the two runs must see exactly the
# same token counts and losses equal up to bf16 noise and summation order (2% per logged window).
# Uses gpu-bundle/ when present (scripts/gpu-bundle.sh), else build-gpu/. NCCL: RCC_NCCL_LIB, else
# the first libnccl.so.2 found (the CUDA toolkit, PyTorch's nvidia-nccl wheel, ldconfig).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x gpu-bundle/rcc ]; then
  RCC=gpu-bundle/rcc
  export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
else
  RCC=build-gpu/rcc
fi
if [ -z "${RCC_NCCL_LIB:-}" ]; then
  for c in /usr/local/cuda/lib/libnccl.so.2 /usr/local/cuda/lib64/libnccl.so.2 \
    $(python3 -c "import nvidia, os; print(' '.join(os.path.join(p, 'nccl', 'lib', 'libnccl.so.2') for p in nvidia.__path__))" 2>/dev/null) \
    $(ldconfig -p 2>/dev/null | awk '/libnccl.so.2/ {print $NF}'); do
    if [ -f "$c" ]; then export RCC_NCCL_LIB="$c"; break; fi
  done
fi
echo "NCCL: ${RCC_NCCL_LIB:-not found (relying on the loader)}"
GPUS=${GPUS:-$(nvidia-smi -L | wc -l)}
[ "$GPUS" -ge 2 ] || { echo "needs 2+ GPUs (found $GPUS)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/cfg.json" <<'PY'
import json, sys
c = json.load(open("configs/ci-passkey.json"))
c["train"].update(steps=60, log_every=10, checkpoint_every=0, eval_every=0, eval_samples=0)
json.dump(c, open(sys.argv[1], "w"))
PY
"$RCC" train --config "$tmp/cfg.json" --out "$tmp/one" --device cuda --quiet > "$tmp/one.json"
"$RCC" train --config "$tmp/cfg.json" --out "$tmp/many" --gpus "$GPUS" --quiet > "$tmp/many.json"
python3 - "$tmp" "$GPUS" <<'PY'
import json, sys
d, n = sys.argv[1], sys.argv[2]
def log(run):
    return [json.loads(l) for l in open(f"{d}/{run}/log.jsonl") if '"loss"' in l]
a, b = log("one"), log("many")
ok = len(a) == len(b) == 6
for x, y in zip(a, b):
    same_tokens = x["tokens"] == y["tokens"]
    rel = abs(x["loss"] - y["loss"]) / x["loss"]
    ok &= same_tokens and rel <= 0.02
    print(f"step {x['step']:3d}  loss 1 GPU {x['loss']:.4f}  {n} GPUs {y['loss']:.4f}  "
          f"rel {rel:.1e}  tokens {x['tokens']} {'==' if same_tokens else '!='} {y['tokens']}  "
          f"tok/s {x['tokens_per_s']:.0f} vs {y['tokens_per_s']:.0f}")
print("== data parallel: " + ("PASS" if ok else "FAIL") + " ==")
sys.exit(0 if ok else 1)
PY
