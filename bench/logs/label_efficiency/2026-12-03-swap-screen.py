"""Paired analysis of the `swap` screen (2026-12-03-few-label-searches.py swap ...): each rule's pick
against the search's own, cells past the start (more than 16 labels), a repeated cell counted once.

    .venv/bin/python bench/logs/label_efficiency/2026-12-03-swap-screen.py bench/logs/label_efficiency/2026-12-03-swap-screen-car.log
"""
import re
import sys

import numpy as np
from scipy.stats import wilcoxon

START = 16  # cells at or below this many labels are the start (the 12 step is often topped up to 16)
line_re = re.compile(r"RES (\S+) seed (\d+)\s+(\S+)\s+(\d+): (.*)")
part_re = re.compile(r"(.*?)\s*FN (\S+)(?: FP (\S+))?$")

cells: dict[tuple[str, int, int], dict[str, tuple[float, float]]] = {}
for line in open(sys.argv[1]):
    if m := line_re.match(line):
        _, seed, method, labels, rest = m.groups()
        rules = {}
        for part in rest.split(" | "):  # "<rule> FN x FP y" (the best trial: "best trial FN x")
            name, fn, fp = part_re.match(part).groups()
            rules[name.removesuffix(" FN").strip()] = (float(fn), float(fp) if fp else np.nan)
        cells[(method, int(seed), int(labels))] = rules  # a repeated cell overwrites itself: counted once

for method in ("proposals", "random"):
    keys = [k for k in cells if k[0] == method and k[2] > START]
    fn = {rule: np.array([cells[k][rule][0] for k in keys]) for rule in cells[keys[0]]}
    fp = {rule: np.array([cells[k][rule][1] for k in keys]) for rule in cells[keys[0]]}
    base = fn["search pick"]
    print(f"{method} {len(keys)} cells; pick FN {base.mean():.3f} FP {fp['search pick'].mean():.3f}")
    for rule in list(fn)[1:]:
        d = fn[rule] - base
        p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
        mean_fp = np.nanmean(fp[rule]) if np.isfinite(fp[rule]).any() else np.nan
        print(f"  {rule:12s} FN {fn[rule].mean():.3f} FP {mean_fp:.3f} diff {d.mean():+.3f} lower {np.sum(d < 0)} higher {np.sum(d > 0)} p {p:.3f}")
    counts = sorted({k[2] for k in keys})
    for rule in fn:
        print("   ", rule, " ".join(f"{c}:{np.mean([cells[k][rule][0] for k in keys if k[2] == c]):.3f}" for c in counts))
