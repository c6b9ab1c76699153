"""Other threshold rules on the same cross-fitted cells, offline (twelfth run).

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-04-crossfit.py Q[,Q] 0:10 12,16,24,32,48,64 random,even,margin --no-refit --dump DIR
    .venv/bin/python bench/logs/label_efficiency/2026-12-04-threshold-rules.py DIR --logs CROSSFIT_LOG [...] [--counts 12,16,...] [--rules RULE,...]

The test oracle's threshold (`2026-12-04-crossfit.py`) found that the labelling order's lead lies in
where the threshold is set, not in how the head ranks. Each dumped cell holds the out-of-fold
scores of a labelled set's fold heads (with their cycles), the unlabelled training and validation
frames' scores, and the bagged head's test scores; here the product's rule
(`metrics.choose_threshold`) is swapped for others on the very same scores, and the test block
judges each:

- `product`: as in the product (per-block target, one frame in reserve, unlabelled frames counted
  by a Platt fit of the labelled frames, C = 100).
- `platt-1e3`, `platt-1e4`: the Platt fit less regularized.
- `mixture`: each unlabelled frame's class from a two-Gaussian mixture over all the fold scores,
  labelled frames clamped to their labels (semi-supervised EM, from the Platt fit).
- `reserve-0`: no frame in reserve.
- `pooled`: the target on the cycles pooled, not in each.
- `pooled-2x`: the target pooled, and within twice the target in each cycle.

The bar (the every-label held-out test FN + 0.02, mean test FP within the target + 0.03) is read
from the every-label lines of the dumping run's logs (`--logs`).

Printed: per query and order, mean test FN / FP by count, starred where it meets the bar, and labels
to reach. A cell is filed under the largest count of the run's grid (`--counts`) that its labels
reach, since starts are topped up until they can train; cells where a fold could not train are not
dumped, so the first counts may average fewer seeds (shown in brackets). Then the every-label cell
under each rule (what the rule does to a fully labelled query); last, each rule
against the product's, cell by cell (the same labelled sets, every order and count): the mean
difference in test FN and FP, how many cells end over the target + 0.03 in test FP, and a Wilcoxon
signed-rank p on FN; and the change in test FN by order.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon
from sklearn.linear_model import LogisticRegression

import autocrop.metrics as M

_spec = importlib.util.spec_from_file_location("crossfit", Path(__file__).resolve().parent / "2026-12-04-crossfit.py")
crossfit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crossfit)  # type: ignore[union-attr]
FP_SLACK = crossfit.FP_SLACK
PRODUCT = M.class_probability


def platt(c: float):
    def p(scores: np.ndarray, y: np.ndarray, unl: np.ndarray) -> np.ndarray:
        k, n = int(y.sum()), len(y)
        if not len(unl) or k in (0, n):
            return PRODUCT(scores, y, unl)
        mu, sd = scores.mean(), scores.std() or 1.0
        return LogisticRegression(C=c).fit(((scores - mu) / sd)[:, None], y).predict_proba(((unl - mu) / sd)[:, None])[:, 1]
    return p


def mixture(scores: np.ndarray, y: np.ndarray, unl: np.ndarray) -> np.ndarray:
    """P(positive) of each unlabelled score under a two-Gaussian mixture of all scores, the labelled
    ones clamped (EM from the product's Platt fit; each variance shrunk toward the pooled one by a frame)."""
    p = PRODUCT(scores, y, unl)
    if not len(unl) or int(y.sum()) in (0, len(y)):
        return p
    x, var = np.r_[scores, unl], np.r_[scores, unl].var()
    for _ in range(200):
        r = np.r_[y.astype(float), p]
        w1, w0 = r.sum(), (1 - r).sum()
        m1, m0 = (r * x).sum() / w1, ((1 - r) * x).sum() / w0
        v1 = ((r * (x - m1) ** 2).sum() + var) / (w1 + 1)
        v0 = (((1 - r) * (x - m0) ** 2).sum() + var) / (w0 + 1)
        l1 = np.log(w1) - 0.5 * np.log(v1) - (unl - m1) ** 2 / (2 * v1)
        l0 = np.log(w0) - 0.5 * np.log(v0) - (unl - m0) ** 2 / (2 * v0)
        new = 1 / (1 + np.exp(np.clip(l0 - l1, -50, 50)))
        done = np.max(np.abs(new - p)) < 1e-6
        p = new
        if done:
            break
    return p


RULES = ("product", "platt-1e3", "platt-1e4", "mixture", "reserve-0", "pooled", "pooled-2x")
PROBABILITY = {"platt-1e3": platt(1e3), "platt-1e4": platt(1e4), "mixture": mixture}


def threshold(d, rule: str) -> float:
    kind, target, per_block, reserve = d["op"]
    u = d["u"] if len(d["u"]) else None
    M.class_probability = PROBABILITY.get(rule, PRODUCT)
    try:
        if rule == "pooled":
            return M.choose_threshold(d["s"], d["y"], kind, target, None, reserve, u, None)
        if rule == "pooled-2x":
            return max(M.choose_threshold(d["s"], d["y"], kind, target, None, reserve, u, None),
                       M.choose_threshold(d["s"], d["y"], kind, 2 * target, d["b"], reserve, u, d["ub"]))
        return M.choose_threshold(d["s"], d["y"], kind, target, d["b"] if per_block else None, 0 if rule == "reserve-0" else reserve,
                                  u, d["ub"] if per_block else None)
    finally:
        M.class_probability = PRODUCT


def main() -> None:
    ap = argparse.ArgumentParser(description="Other threshold rules on the cells that 2026-12-04-crossfit.py --dump saved.")
    ap.add_argument("folder", type=Path, help="the --dump folder")
    ap.add_argument("--logs", nargs="+", required=True, help="the dumping run's logs (their every-label lines set each query's bar)")
    ap.add_argument("--counts", default="12,16,24,32,48,64", help="the dumping run's label counts")
    ap.add_argument("--rules", default=",".join(RULES), help=f"some of {', '.join(RULES)}")
    args = ap.parse_args()
    folder, grid, rules = args.folder, [int(c) for c in args.counts.split(",")], args.rules.split(",")
    refs = {m[1]: (float(m[2]), float(m[3])) for log in args.logs for line in Path(log).read_text().splitlines()
            if (m := crossfit.EVERY.match(line))}  # query -> (every-label held-out test FN, target)
    cells: dict = defaultdict(list)  # (query, order, count index, rule) -> [(labels, fn, fp)]
    paired: dict = defaultdict(list)  # (query, rule) -> [(fn, fp)], one per cell in the same order for every rule
    by_order: dict = defaultdict(list)  # (query, rule, order) -> [fn], likewise
    every: dict = {}
    runs: dict = defaultdict(list)  # (query, seed, order) -> [(labels, path)]
    for path in folder.glob("*.npz"):
        m = re.fullmatch(r"(\S+) (\d+) (\w+) (\d+)\.npz", path.name)
        assert m, path
        runs[(m[1], int(m[2]), m[3])].append((int(m[4]), path))
    for (q, seed, order), paths in sorted(runs.items()):
        for n, path in sorted(paths):
            i = max([k for k, c in enumerate(grid) if c <= n], default=0)
            d = np.load(path, allow_pickle=True)
            for rule in rules:
                fp, fn = M.rates(d["yt"], (d["test"] >= threshold(d, rule)).astype(int))
                if order == "every":
                    every[(q, rule)] = (fn, fp)
                else:
                    cells[(q, order, i, rule)].append((n, fn, fp))
                    paired[(q, rule)].append((fn, fp))
                    by_order[(q, rule, order)].append(fn)
    seeds = {q: len({k[1] for k in runs if k[0] == q and k[2] != "every"}) for q in {k[0] for k in runs}}
    for q in sorted({k[0] for k in cells}):
        ref_fn, target = refs[q]
        bar = ref_fn + crossfit.FN_TOL
        print(f"\n{q}: bar {bar:.3f} FN, {target + FP_SLACK:.2f} FP; every label: "
              + ", ".join(f"{r} {every[(q, r)][0]:.3f} / {every[(q, r)][1]:.3f}" for r in rules if (q, r) in every))
        for order in sorted({k[1] for k in cells if k[0] == q}):
            for rule in rules:
                row, curve = [], []
                for i in range(len(grid)):
                    if (q, order, i, rule) not in cells:
                        continue
                    c = cells[(q, order, i, rule)]
                    curve.append(tuple(np.mean(c, axis=0)))
                    n, fn, fp = curve[-1]
                    ok = bool(fn <= bar and fp <= target + FP_SLACK)
                    row.append(f"{'*' * ok}{n:.0f}: {fn:.3f} / {fp:.3f}" + (f" ({len(c)})" if len(c) < seeds[q] else ""))
                print(f"| {order} | {rule} | " + " | ".join(row) + f" | labels to reach: {crossfit.ceiling.reached(curve, ref_fn, target)}")
    print(f"\nEach rule against the product's, cell by cell (few-label cells of every order and count; test FN, FP; cells over the target + {FP_SLACK} FP):")
    print("| query | " + " | ".join(rules) + " |")
    for q in sorted({k[0] for k in paired}):
        base = np.array(paired[(q, "product")]) if (q, "product") in paired else None
        row, target = [], refs[q][1]
        for rule in rules:
            x = np.array(paired[(q, rule)])
            over = int((x[:, 1] > target + FP_SLACK + 1e-9).sum())
            if base is None or rule == "product":
                row.append(f"{x[:, 0].mean():.3f}, {x[:, 1].mean():.3f}; {over}/{len(x)}")
                continue
            d = x - base
            p = wilcoxon(d[:, 0][d[:, 0] != 0]).pvalue if (d[:, 0] != 0).sum() else 1.0
            row.append(f"{d[:, 0].mean():+.3f} (p = {p:.1g}), {d[:, 1].mean():+.3f}; {over}")
        print(f"| {q} | " + " | ".join(row) + " |")
    orders = sorted({k[2] for k in by_order})
    print(f"\nTest FN against the product's rule, by order ({', '.join(orders)}): does a rule help one labelling more than another?")
    for q in sorted({k[0] for k in by_order}):
        print(f"| {q} | " + " | ".join(
            rule + " " + " ".join(f"{np.mean(np.subtract(by_order[(q, rule, o)], by_order[(q, 'product', o)])):+.3f}" for o in orders)
            for rule in rules if rule != "product" and (q, "product", orders[0]) in by_order) + " |")


if __name__ == "__main__":
    main()
