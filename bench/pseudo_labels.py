"""Do unlabelled training frames help a head trained on a few labels? Two kinds of pseudo-labels.

    .venv/bin/python bench/pseudo_labels.py [--only car,far-band] [--counts 48,96,192] [--seeds 5] [--time 2] [--confidence 0.99]

The untried idea left by bench/label_efficiency.py (BENCHMARKS.md): far-band's shortfall on few
labels lies in what the training labels teach the heads, not in which trial the search picks nor
in its threshold. Semi-supervision would make the same labels teach more. Measured here, on the
query suite, before building it into the search:

- **time**: an unlabelled training frame within `--time` frames of a labelled training frame
  takes its label (the nearest one; none at a tie between classes). Consecutive frames mostly
  share a label; the pseudo-labels are wrong only where a car enters or leaves the region.
- **spread**: label spreading (scikit-learn's `LabelSpreading`, a 7-nearest-neighbour graph) over
  the training block in label-next's embedding (the last layer pooled to 3 x 4, reduced;
  `autocrop.embedding`); unlabelled training frames whose spread class probability is at least
  `--confidence` take that class.

Validation and test keep their real labels only, so the threshold and the judge do not change.
Per query, the every-label search's pick (seed 0; its input, head, hyperparameters and seed: the
"fixed input" judge of label_efficiency.py) is trained on random train + validation label sets of
each count (seeded), once on the labels alone and once per kind with its pseudo-labels, and judged
on the fully labelled test block at its validation threshold. Prints one line per cell (with how
many pseudo-labels each kind added and how many of them were right) and, per kind, cells with
lower / equal / higher test FN than the labels alone, the mean difference and a Wilcoxon p.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from label_efficiency import Sim  # noqa: E402  (puts the repository first on sys.path, via common)
from query_suite import queries  # noqa: E402
from scipy.stats import wilcoxon  # noqa: E402

from autocrop.dataset import QueryData  # noqa: E402
from autocrop.embedding import embedding  # noqa: E402
from autocrop.evaluation import Evaluator  # noqa: E402

KINDS = ("time", "spread")


def by_time(data: QueryData, train: np.ndarray, k: int) -> np.ndarray:
    """Labels per row with each unlabelled training frame given its nearest labelled training frame's label within k frames."""
    y = data.y.copy()
    lab = train[data.y[train] >= 0]
    if not len(lab) or k <= 0:
        return y
    ids = data.ids
    for row in train[data.y[train] < 0]:
        d = np.abs(ids[lab] - ids[row])
        near = lab[d == d.min()] if d.min() <= k else []
        if len(near) and len(set(data.y[near])) == 1:
            y[row] = data.y[near[0]]
    return y


def by_spreading(data: QueryData, train: np.ndarray, emb: np.ndarray, confidence: float) -> np.ndarray:
    """Labels per row with unlabelled training frames given their spread class where it is at least `confidence` sure."""
    from sklearn.semi_supervised import LabelSpreading

    y, ytr = data.y.copy(), data.y[train]
    spread = LabelSpreading(kernel="knn", n_neighbors=7, alpha=0.2, max_iter=100).fit(emb[train], np.where(ytr >= 0, ytr, -1))
    p = np.nan_to_num(spread.label_distributions_[:, 1], nan=0.5)
    new = (ytr < 0) & ((p >= confidence) | (p <= 1 - confidence))
    y[train[new]] = (p[new] >= 0.5).astype(int)
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(p.stem for p in queries()), help="query names (file stems of the suite)")
    ap.add_argument("--counts", default="48,96,192", help="label counts (train + validation)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=16, help="budget of the every-label search that picks the fixed input")
    ap.add_argument("--time", type=int, default=2, help="frames either side a label reaches (time)")
    ap.add_argument("--confidence", type=float, default=0.99, help="the spread class probability a pseudo-label needs (spread)")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    diffs: dict[str, list[tuple[str, float, float]]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        for path in [p for p in queries() if p.stem in args.only.split(",")]:
            sim = Sim(path, args.trials, Path(tmp))
            sim.cfg.search.seed = 0
            sim.search(sim.data(sim.pickable))
            ref = sim.pick
            assert ref is not None
            emb = embedding(sim.full, sim.full.backbone.layer_names[-1])
            train, q = sim.full.splits["train"], sim.cfg.name
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                for n in counts:
                    known = rng.choice(sim.pickable, n, replace=False)
                    if not sim.trainable(known):
                        continue
                    data = sim.data(known)
                    ys = {"labels": data.y, "time": by_time(data, train, args.time), "spread": by_spreading(data, train, emb, args.confidence)}
                    m = {}
                    for kind, y in ys.items():
                        d = data.with_labels(y)
                        m[kind] = Evaluator(d, d.cfg).retrain_all([ref])[0].record.metrics
                    extra = {k: (y >= 0) & (data.y < 0) for k, y in ys.items()}
                    print(f"{q:>18} seed {seed} {n:>4} labels: test FN / FP " + " ".join(
                        f"{k} {m[k]['test_fn']:.3f} / {m[k]['test_fp']:.3f}" + (
                            f" (+{extra[k].sum()}, {(ys[k][extra[k]] == sim.full.y[extra[k]]).mean():.3f} right)" if extra[k].any() else "")
                        for k in ys), flush=True)
                    for k in KINDS:
                        diffs[k].append((q, m[k]["test_fn"] - m["labels"]["test_fn"], m[k]["test_fp"] - m["labels"]["test_fp"]))
    print("\n| pseudo-labels | cells | test FN lower / equal / higher | mean difference (test FP's) | Wilcoxon p |\n|---|---:|---|---|---|")
    for k, rows in diffs.items():
        d = np.array([r[1] for r in rows])
        fp = np.array([r[2] for r in rows])
        p = wilcoxon(d[d != 0]).pvalue if (d != 0).sum() > 1 else float("nan")
        name = f"time, {args.time} frames" if k == "time" else f"spread, confidence {args.confidence}"
        print(f"| {name} | {len(d)} | {(d < 0).sum()} / {(d == 0).sum()} / {(d > 0).sum()} | {d.mean():+.4f} ({fp.mean():+.4f}) | {p:.2g} |")
    print("\nPer query, mean test FN difference against the labels alone (time / spread):")
    for q in dict.fromkeys(r[0] for r in diffs["time"]):
        print(f"  {q:>18}: " + " / ".join(f"{np.mean([r[1] for r in diffs[k] if r[0] == q]):+.3f}" for k in KINDS))


if __name__ == "__main__":
    main()
