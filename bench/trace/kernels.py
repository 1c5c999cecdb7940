"""Per-kernel GPU time of a cupti_trace.tsv over the last whole training steps (as timeline.py
delimits them), largest first.

Usage: kernels.py trace.tsv [steps]   (default 3)"""
import collections, sys

gpu = []
for line in open(sys.argv[1]):
    kind, s, e, stream, name = line.rstrip("\n").split("\t", 4)
    if kind != "R":
        gpu.append((int(s), int(e), kind, name))
gpu.sort()
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
opt = [i for i, g in enumerate(gpu) if g[2] == "K" and "adamw" in g[3]]
ends = [i for j, i in enumerate(opt) if j + 1 == len(opt) or opt[j + 1] != i + 1]
lo, hi = ends[-steps - 1] + 1, ends[-1] + 1
sel = gpu[lo:hi]
wall = sel[-1][1] - gpu[lo - 1][1]
time, count = collections.Counter(), collections.Counter()
for s, e, kind, name in sel:
    key = name if kind == "K" else f"[{kind}] {name.split()[0]}"
    time[key] += e - s
    count[key] += 1
total = sum(time.values())
print(f"last {steps} steps: {wall / 1e6 / steps:.2f} ms/step wall, {total / 1e6 / steps:.2f} "
      f"ms/step of GPU work")
for k, t in time.most_common():
    print(f"{t / 1e6 / steps:8.3f} ms/step {100 * t / total:5.1f}% x {count[k] // steps:4d}  "
          f"{k[:110]}")
