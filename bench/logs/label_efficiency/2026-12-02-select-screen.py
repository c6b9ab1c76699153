"""Screen: would another rule for choosing a search's pick among its trials do better on few labels?
Run with `2026-12-02-select-screen.patch` applied (it prints, before each search's result line, the
test rates of the trial three other rules would pick), then, from the repository root:
    .venv/bin/python bench/logs/label_efficiency/2026-12-02-select-screen.py
Rules: auc_ok, the highest val AUC (labelled validation frames) among trials meeting the val FP
target; auc_all, the highest val AUC of all; sum, the lowest val FP + FN. Each is paired with the
search's own pick (the operating point's best, `selection.best_of`), cell by cell (method, seed,
count past the first), on rates snapped to exact fractions as the bench's --from-log does.
"""
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

sys.path.insert(0, "bench")
from label_efficiency import _exact  # noqa: E402
from query_suite import queries  # noqa: E402

from autocrop.config import load_config  # noqa: E402

RULES = ("auc_ok", "auc_all", "sum")
ALT = re.compile(r"\s*ALT " + " ".join(rf"{k} FN ([\d.]+) FP ([\d.]+)" for k in RULES))
RUN = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\d+) labels: test FN ([\d.]+) FP ([\d.]+)")
cfgs = {c.name: c for c in map(load_config, queries())}
for log in sorted(Path("bench/logs/label_efficiency").glob("2026-12-02-select-screen-*.log")):
    cells, alt = {}, None
    for line in log.read_text().splitlines():
        if m := ALT.match(line):
            alt = list(map(float, m.groups()))
        elif m := RUN.match(line):
            q, seed, method, _, fn, fp = m.groups()
            r = {"pick_fn": float(fn), "pick_fp": float(fp)} | {f"{k}_{e}": alt[2 * i + j] for i, k in enumerate(RULES) for j, e in enumerate(("fn", "fp"))}
            cells.setdefault(method, {}).setdefault(int(seed), []).append(r)
    _exact(cfgs[q], [r for by_seed in cells.values() for run in by_seed.values() for r in run])
    print(f"{q}:")
    for method, by_seed in cells.items():
        for k in RULES:
            d = np.array([r[f"{k}_fn"] - r["pick_fn"] for run in by_seed.values() for r in run[1:]])
            nz = d[np.abs(d) > 1e-9]
            p = wilcoxon(nz).pvalue if len(nz) else float("nan")
            print(f"  {method:9s} {k:7s}: test FN differs in {len(nz)} of {len(d)} cells: lower in {(d < -1e-9).sum()}, "
                  f"higher in {(d > 1e-9).sum()}; mean {d.mean():+.4f}; Wilcoxon p = {p:.2g}")
