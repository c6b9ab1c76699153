"""label-next with the cold start's mix (half typical, half random) as the exploration half after
a search too (2026-12-02-explore-mix.patch), against label-next as published (the fine-grid logs):
paired per (query, seed, count past the first), per query and over all, by the search judge and the
fixed input; with each query's mean test FN per count.

    .venv/bin/python bench/logs/label_efficiency/2026-12-02-explore-mix-compare.py   # from the repository root
    .venv/bin/python bench/logs/label_efficiency/2026-12-02-explore-mix-compare.py val-near-threshold   # the other screen

The argument names another variant's logs (2026-12-02-NAME-*.log), compared the same way.
"""
import glob
import re
import sys

import numpy as np
from scipy.stats import wilcoxon
run = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\d+) labels: test FN ([\d.]+) FP ([\d.]+) AUC ([\d.]+) fixed input FN ([\d.]+) FP ([\d.]+)")
def load(paths):
    d = {}
    for p in paths:
        for line in open(p):
            if (m := run.match(line)) and m.group(3) == "proposals":
                q, s, _, lab, fn, fp, auc, ffn, ffp = m.groups()
                d[(q, int(s), int(lab))] = (float(fn), float(fp), float(ffn), float(ffp))
    return d
old = load(glob.glob("bench/logs/label_efficiency/2026-12-02-fine-grid-*.log"))
new = load(glob.glob(f"bench/logs/label_efficiency/2026-12-02-{sys.argv[1] if len(sys.argv) > 1 else 'explore-mix'}-*.log"))
keys = sorted(set(old) & set(new))
qs = sorted({k[0] for k in keys})
for j, judge in ((0, "search"), (2, "fixed")):
    allo, alln = [], []
    for q in qs:
        ks = [k for k in keys if k[0] == q and k[2] > 24]
        o = np.array([old[k][j] for k in ks]); n = np.array([new[k][j] for k in ks])
        allo += list(o); alln += list(n)
        counts = sorted({k[2] for k in ks})
        mo = [np.mean([old[k][j] for k in ks if k[2] == c]) for c in counts]
        mn = [np.mean([new[k][j] for k in ks if k[2] == c]) for c in counts]
        p = wilcoxon(n, o).pvalue if (n != o).any() else 1
        print(f"{judge:6s} {q:18s} new lower {int((n<o).sum())} eq {int((n==o).sum())} higher {int((n>o).sum())} mean diff {np.mean(n-o):+.3f} p={p:.2g}")
        print("        old " + " ".join(f"{c}:{m:.3f}" for c, m in zip(counts, mo)))
        print("        new " + " ".join(f"{c}:{m:.3f}" for c, m in zip(counts, mn)))
    o, n = np.array(allo), np.array(alln)
    if len(o):
        print(f"{judge} ALL new lower {(n<o).sum()} eq {(n==o).sum()} higher {(n>o).sum()} mean {np.mean(n-o):+.4f} p={wilcoxon(n,o).pvalue:.2g}")
