"""Summarise a cupti_trace.tsv: per training step the GPU's busy and idle time, then the largest
idle gaps with the GPU work around them and the host's runtime calls inside them.

Usage: timeline.py trace.tsv [steps [marker]]   (steps: how many of the last whole steps; default 2)
A step ends with the last kernel whose name contains `marker` (default 'adamw': the optimizer) of a
run of them; with the optimizer on a second stream, interleaved with the next step's kernels, pass
'sum_squares' (the gradient norm, on the main stream). Busy time is the union over all streams."""
import collections, sys

gpu, host = [], []
for line in open(sys.argv[1]):
    kind, s, e, stream, name = line.rstrip("\n").split("\t", 4)
    (host if kind == "R" else gpu).append((int(s), int(e), kind, name))
gpu.sort()
host.sort()
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
marker = sys.argv[3] if len(sys.argv) > 3 else "adamw"
opt = [i for i, g in enumerate(gpu) if g[2] == "K" and marker in g[3]]
ends = [i for j, i in enumerate(opt) if j + 1 == len(opt) or opt[j + 1] != i + 1]
lo, hi = ends[-steps - 1] + 1, ends[-1] + 1
sel = gpu[lo:hi]
t0, t1 = gpu[lo - 1][1], sel[-1][1]
busy = collections.Counter()
gaps = []
cursor = t0
for s, e, kind, name in sel:
    if s > cursor:
        gaps.append((s - cursor, cursor, s))
    busy[kind] += e - max(s, cursor) if e > cursor else 0
    cursor = max(cursor, e)
wall = t1 - t0
idle = sum(g[0] for g in gaps)
print(f"{steps} steps: wall {wall/1e6/steps:.2f} ms/step; kernels {busy['K']/1e6/steps:.2f}, "
      f"copies {busy['C']/1e6/steps:.2f}, memsets {busy['S']/1e6/steps:.2f}, "
      f"idle {idle/1e6/steps:.2f} ms/step ({100*idle/wall:.1f}%)")
small = sum(g[0] for g in gaps if g[0] < 20000)
print(f"idle in gaps < 20 us: {small/1e6/steps:.2f} ms/step over {sum(1 for g in gaps if g[0] < 20000)//steps} gaps/step; "
      f"gaps >= 20 us: {(idle-small)/1e6/steps:.2f} ms/step")
copies = collections.Counter()
for s, e, kind, name in sel:
    if kind in "CS":
        copies[name.split(" ")[0] + " " + name.split(" ")[1] if kind == "C" else "memset"] += e - s
for k, v in copies.most_common():
    print(f"  {k}: {v/1e6/steps:.3f} ms/step")
index = {g[1]: i for i, g in enumerate(sel)}
print("largest gaps:")
for d, a, b in sorted(gaps, reverse=True)[:25]:
    before = [g for g in sel if g[1] == a]
    after = [g for g in sel if g[0] == b]
    calls = collections.Counter(n for s, e, k, n in host if s < b and e > a)
    longest = max(((min(e, b) - max(s, a), n) for s, e, k, n in host if s < b and e > a), default=(0, "-"))
    print(f"  {d/1e3:8.1f} us after {before[0][3][:50] if before else '?'!s:50} before {after[0][3][:50] if after else '?'}")
    print(f"           host: {dict(calls.most_common(4))}; longest {longest[1]} {longest[0]/1e3:.1f} us")
