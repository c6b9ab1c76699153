"""Paired analysis of `2026-12-03-few-label-searches.py ensemble` logs (2026-12-03, fifth run).

    .venv/bin/python bench/logs/label_efficiency/2026-12-03-ensemble-screen.py bench/logs/label_efficiency/2026-12-03-ensemble-screen-*.log

Per method, over the cells past the start (more than 16 labels; a cell the search repeated counted
once): the mean test FN / FP of the search's pick and of the mean of the top k trials, the paired
test FN difference (lower / higher, Wilcoxon p), per query and pooled; and how many cells meet the
bench's bar (test FN within 0.02 of the every-label FN, test FP at most the target + 0.03).
"""
import re
import sys

import numpy as np
from scipy.stats import wilcoxon

FN_TOL, FP_BAR = 0.02, 0.05 + 0.03
KS = ("search pick", "top 3", "top 5", "top 8", "all ok")
RES = re.compile(r"RES (\S+) seed (\d+)\s+(\S+)\s+(\d+): (.*)")
PART = re.compile(r"(.*?)(?: \(\d+\))? FN ([\d.]+|nan) FP ([\d.]+|nan)")


def read(path: str) -> tuple[float, dict]:
    """The log's every-label test FN, and per (query, seed, method, labels) each pick's (FN, FP)."""
    ref, cells = None, {}
    for line in open(path):
        if line.startswith("every label test FN"):
            ref = float(line.split()[4])
        m = RES.match(line)
        if not m:
            continue
        q, seed, meth, labels, rest = m.groups()
        picks = {}
        for part in rest.split(" | "):
            p = PART.match(part)
            if p:
                picks[p.group(1).strip()] = (float(p.group(2)), float(p.group(3)))
        cells.setdefault((q, int(seed), meth, int(labels)), picks)  # a repeated cell: the first, counted once
    return ref, cells


def paired(cells: list[dict], k: str) -> str:
    both = [(c["search pick"], c[k]) for c in cells if not np.isnan(c[k][0])]
    base, new = (np.array(x) for x in zip(*both, strict=True))
    d = new[:, 0] - base[:, 0]
    p = wilcoxon(d).pvalue if np.any(d) else 1.0
    return (f"{new[:, 0].mean():.3f} / {new[:, 1].mean():.3f} (dFN {d.mean():+.3f}, {(d < 0).sum()} lower / {(d > 0).sum()} higher, "
            f"p = {p:.2f}; dFP {(new[:, 1] - base[:, 1]).mean():+.3f})")


logs = [read(p) for p in sys.argv[1:]]
for meth in ("proposals", "random"):
    pooled = []
    for ref, cells in logs:
        mine = [v for (q, s, m, n), v in cells.items() if m == meth and n > 16]
        pooled += mine
        q = next(iter(cells))[0]
        print(f"{q} {meth} ({len(mine)} cells, every-label FN {ref:.3f}): pick {paired(mine, 'search pick').split(' (')[0]}")
        for k in KS[1:4]:
            print(f"    {k}: {paired(mine, k)}")
        for k in KS[:4]:
            bar = [fn <= ref + FN_TOL + 1e-9 and fp <= FP_BAR + 1e-9 for fn, fp in (c[k] for c in mine)]
            print(f"    {k} meets the bar in {sum(bar)} of {len(bar)} cells")
    print(f"POOLED {meth} ({len(pooled)} cells): pick {paired(pooled, 'search pick').split(' (')[0]}")
    for k in KS[1:]:
        print(f"    {k}: {paired(pooled, k)}")
