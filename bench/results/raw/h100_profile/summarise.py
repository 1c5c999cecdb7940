"""Per-kernel time of the last two training steps from an ncu --csv dump (gpu__time_duration).

Steps are delimited by the optimizer's kernel (the one whose name contains 'adamw'); kernels are
grouped by name (cuBLAS kernels also by grid size: one row per product shape)."""
import csv, sys, collections, re

rows = []
with open(sys.argv[1]) as f:
    lines = [l for l in f if l.startswith('"')]
for r in csv.DictReader(lines):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    rows.append((r["Kernel Name"], r["Grid Size"], float(r["Metric Value"].replace(",", ""))))
opt = [i for i, (n, _, _) in enumerate(rows) if "adamw" in n.lower()]
# the optimizer may be several launches per step: step ends at the last of a run of them
ends = [i for j, i in enumerate(opt) if j + 1 == len(opt) or opt[j + 1] != i + 1]
if len(ends) >= 3:
    lo, hi = ends[-3] + 1, ends[-1] + 1
else:
    lo, hi = 0, len(rows)
sel = rows[lo:hi]
total = sum(t for _, _, t in sel)
groups = collections.defaultdict(lambda: [0, 0.0])
for n, g, t in sel:
    short = re.sub(r"\(.*", "", n)[:90]
    key = short + ("  grid " + g if ("gemm" in n.lower() or "xmma" in n.lower() or "sm90" in n.lower()) else "")
    groups[key][0] += 1
    groups[key][1] += t
print(f"kernels {len(sel)} over {len(ends) and 2} steps, total {total/1e6:.2f} ms ({total/2e6:.2f} ms/step)")
for k, (c, t) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
    print(f"{t/2e6:8.3f} ms/step {100*t/total:5.1f}%  x{c//2:5d}  {k}")
