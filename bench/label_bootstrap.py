"""How many labels before a new query can search at all: label-next seeking what a split lacks vs random frames vs another cold start.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/label_bootstrap.py [--only near-band-large,right-near-strict] [--start 24] [--batch 4] [--seeds 20]

A search needs a labelled positive and negative in both the training and the validation split.
Per query of the highway suite and seed, the masks play the annotator: label-next's cold start of
`--start` frames is labelled; then, while a split lacks a class, batches of `--batch` frames are
labelled, chosen by
- **seek**: `label-next` as it is (too few labels to search: it seeks the class a split lacks,
  beside the labelled frames of it, `autocrop.seek`; the rest of the batch a cold start);
- **cold**: `label-next --cold`, another cold start (what label-next did before it could seek);
- **random**: unlabelled train and validation frames drawn at random.

Prints, per query: its positive rate, in how many seeds the cold start alone could search, and
for the others the labels until a search can run (mean and worst over those seeds) per method;
and how often seek's sought frames were of the class sought, against that class's share of the
lacking split's unlabelled frames (what a random frame finds). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import can_search, revealed  # noqa: E402
from query_suite import queries  # noqa: E402

from autocrop.config import load_config  # noqa: E402
from autocrop.dataset import QueryData, prepare  # noqa: E402
from autocrop.evaluation import baseline_layer  # noqa: E402
from autocrop.label_next import next_batch  # noqa: E402
from autocrop.seek import lacking  # noqa: E402

METHODS = ("seek", "cold", "random")
CAP = 400  # labels: a method still unable to search by then counts as this many


def run(full: QueryData, seed: int, start: int, batch: int) -> dict:
    rng = np.random.default_rng(seed)
    pickable = np.r_[full.splits["train"], full.splits["val"]]
    first = np.array([p.row for p in next_batch(revealed(full, np.array([], int), full.splits["test"]), start, "", seed, cold=True, progress=False).proposals])
    out: dict = {"start_ok": can_search(revealed(full, first, full.splits["test"])), "hits": 0, "sought": 0, "base": []}
    for m in METHODS:
        known = first.copy()
        while not can_search(data := revealed(full, known, full.splits["test"])) and len(known) < CAP:
            if m == "random":
                new = rng.choice(np.setdiff1d(pickable, known), batch, replace=False)
            else:
                pairs = lacking(data)
                picks = next_batch(data, batch, "", seed, cold=m == "cold", progress=False).proposals
                new = np.array([p.row for p in picks], int)
                if m == "seek":
                    for p in picks:
                        if p.reason.startswith("seek a "):
                            cls = 1 if p.reason.startswith("seek a positive") else 0
                            out["hits"] += int(full.y[p.row] == cls)
                            out["sought"] += 1
                    for split, cls in pairs:
                        pool = data.pool[split]
                        out["base"].append(float((full.y[pool] == cls).mean()))
            known = np.union1d(known, new)
        out[m] = len(known)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated query names (file stems of the suite); default all")
    ap.add_argument("--start", type=int, default=24, help="cold-start frames (default 24, as bench/label_efficiency.py)")
    ap.add_argument("--batch", type=int, default=4, help="frames per batch after it (default 4)")
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    paths = [p for p in queries() if not args.only or p.stem in args.only.split(",")]
    print(f"# label_bootstrap: start {args.start}, batch {args.batch}, seeds 0-{args.seeds - 1}")
    lines = ["| query | positives | cold start can search | " + " | ".join(f"{m}: labels until it can (mean, worst)" for m in METHODS)
             + " | sought frames of the class sought (random frames') |", "|---|---:|---:|" + "---|" * len(METHODS) + "---|"]
    print("\n".join(lines))
    total = {m: [] for m in METHODS}
    for path in paths:
        cfg = load_config(path, [])
        full = prepare(cfg)
        full.store.extract([baseline_layer(full)], progress=False)
        runs = [run(full, s, args.start, args.batch) for s in range(args.seeds)]
        short = [r for r in runs if not r["start_ok"]]
        cells = []
        for m in METHODS:
            v = [r[m] for r in short]
            total[m] += v
            cells.append(f"{np.mean(v):.1f}, {max(v)}" if v else "-")
        hits, sought = sum(r["hits"] for r in short), sum(r["sought"] for r in short)
        base = [b for r in short for b in r["base"]]
        found = f"{hits}/{sought} = {hits / sought:.0%} ({np.mean(base):.0%})" if sought else "-"
        pos = (full.y[full.y >= 0] == 1).mean()
        lines.append(f"| {cfg.name} | {pos:.0%} | {sum(r['start_ok'] for r in runs)} of {len(runs)} | " + " | ".join(cells) + f" | {found} |")
        print(lines[-1], flush=True)
    if any(total.values()):
        lines.append("\nOver the seeds that could not search after the cold start: " + "; ".join(
            f"{m} {np.mean(v):.1f} labels (worst {max(v)})" for m, v in total.items() if v) + f", from {args.start}.")
        print(lines[-1])


if __name__ == "__main__":
    sys.exit(main())
