"""Every label twice: cross-fitting instead of a held-out validation split, judged with the input fixed.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-04-crossfit.py QUERY[,QUERY] FIRST:LAST COUNTS [ORDER,ORDER]
    .venv/bin/python bench/logs/label_efficiency/2026-12-04-crossfit.py --from-log LOG [...] [--plot PNG] [--against ORDER]

The ceiling run (`2026-12-04-ceiling.py --grid`) found that either half of a labelled set alone is
cheap (13-48 training labels with validation labelled whole; 6-64 validation labels with training
whole), yet together they cost far more, since a label trains the head or sets its threshold, not
both. Cross-fitting lets every label do both: the labelled frames of the training and validation
blocks are pooled and split into folds by the footage's time cycles (`split.blocks`: each cycle is
train|val|test, so a fold is a contiguous stretch of time); the fixed input's head is trained on
all folds but one and scores the one left out. The threshold comes from those out-of-fold scores
by the product's own rule (`metrics.choose_threshold`: the target held in each fold as in each
validation block, one frame in reserve, the fold's unlabelled frames counted by class probability).
The test block is scored by the mean of the folds' heads (bagging), or by one head trained on every
label (`refit`; its scores are on a different scale than the out-of-fold ones, so its threshold is
only approximately right). As in the product, a fold head keeps its best weights on the fold it
scores (the held-out split does the same with validation), so out-of-fold scores are that much
optimistic.

Orders: `random` (the ceiling script's random frames, the same draws) and `even` (its nested evenly
spaced frames). Each labelled set is judged three ways, on the same frames: `holdout` (the product:
train on the training block's labels, threshold on the validation block's), `bagged` and `refit`.

The ceiling run's uncertainty orders, cross-fitted (added 2026-12-04, the eleventh run): `margin`,
`mix` and `oracle` pick as in `2026-12-04-ceiling.py` (from even's start; a batch's validation share
next in the seed's nested time order; its training share nearest the threshold, no two within
`LABEL_MIN_GAP` frames; mix half by margin, half next in a nested time order), with the margins of
the cross-fitted head itself: the mean fold head's distance from the out-of-fold threshold, in the
out-of-fold scores' SD (the held-out head's where a fold cannot train, as the product falls back).
The oracle's are those of the cross-fitted head on every label. Does any order, knowing the right
input, reach the every-label test FN with a third of random frames' labels once every label both
trains and thresholds? `--no-refit` skips the refit head (these orders need only `bagged`).

The test oracle's threshold (added 2026-12-04, the twelfth run): each bagged head is also judged at
the lowest threshold that holds test FP at the target, chosen on the test block itself, and its
test AUC is logged. That splits a labelled set's worth in two: what its head's ranking is worth
whatever rule sets the threshold, and what the rule on its labels loses beside it. Where random
frames' heads reach the bar there as soon as the best order's, the order's lead lies in the threshold.
`--dump DIR` saves each cross-fitted cell's scores for `2026-12-04-threshold-rules.py`.

Every pick near the threshold (added 2026-12-04, the thirteenth run): `both` picks a batch's
validation share nearest the threshold too (from the validation block, no two within
`LABEL_MIN_GAP` frames), not next in time; `cycles` picks the whole batch nearest the threshold,
over the training and validation blocks, taking the time cycles in turn, so that every cycle's
threshold, which must hold the target on its own, gains frames near it. Both from even's start.
Random frames' lead lies in the threshold (above): do picks that pin it in every block pin it sooner?
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("ceiling", HERE / "2026-12-04-ceiling.py")
ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ceiling)  # type: ignore[union-attr]

from label_efficiency import FN_TOL, FP_SLACK, Sim  # noqa: E402  (on the path through the ceiling script)
from query_suite import queries  # noqa: E402

from autocrop.evaluation import Evaluator  # noqa: E402
from autocrop.labels import block_of  # noqa: E402
from autocrop.metrics import choose_threshold, rates  # noqa: E402

WAYS = ("holdout", "bagged", "refit")
DUMP: Path | None = None  # `--dump DIR`: each cross-fitted cell's scores, for 2026-12-04-threshold-rules.py


def scores_of(head, ref, sim: Sim, rows: np.ndarray) -> np.ndarray:
    if not len(rows):
        return np.zeros(0)
    with torch.no_grad():
        return head(torch.from_numpy(ref.input.gather_windows(sim.full.store, rows))[None])[0].numpy()


def crossfit(sim: Sim, known: np.ndarray, ref, refit: bool = True, tag: str = "") -> dict | None:
    """(test FN, FP) of the bagged and the refit head, thresholded on out-of-fold scores, and the
    bagged head's margins on every pickable row (`margin`); None when a fold's complement lacks a
    class (it cannot train)."""
    full, op = sim.full, sim.cfg.search.operating_point
    n = len(full.ids)
    cyc = block_of(sim.pickable, n, sim.cfg.split.blocks)
    test = full.splits["test"]
    labelled = np.isin(sim.pickable, known)
    oof, oof_y, oof_b, unl, unl_b, test_scores, pick_scores = [], [], [], [], [], [], []
    data = sim.data(known)
    for k in np.unique(cyc):
        tr = sim.pickable[labelled & (cyc != k)]
        va = sim.pickable[labelled & (cyc == k)]
        if len(np.unique(full.y[tr])) < 2 or not len(va):
            return None
        splits = {"train": tr, "val": va, "test": test}
        fold = replace(data, splits=splits, blocks={s: block_of(r, n, sim.cfg.split.blocks) for s, r in splits.items()},
                       pool={s: np.zeros(0, int) for s in splits})
        out = Evaluator(fold, fold.cfg).retrain_all([ref])[0]
        oof.append(out.val_scores)
        oof_y.append(full.y[va])
        oof_b.append(np.full(len(va), k))
        rest = sim.pickable[~labelled & (cyc == k)]
        unl.append(scores_of(out.head, ref, sim, rest))
        unl_b.append(np.full(len(rest), k))
        test_scores.append(scores_of(out.head, ref, sim, test))
        pick_scores.append(scores_of(out.head, ref, sim, sim.pickable))
    s, y, b = np.concatenate(oof), np.concatenate(oof_y), np.concatenate(oof_b)
    u, ub = np.concatenate(unl), np.concatenate(unl_b)
    thr = choose_threshold(s, y, op.rule, op.target, b if op.per_block else None, op.reserve, u if len(u) else None,
                           ub if op.per_block else None)
    yt = full.y[test]
    fp_b, fn_b = rates(yt, (np.mean(test_scores, axis=0) >= thr).astype(int))
    margin = np.abs(np.mean(pick_scores, axis=0) - thr) / (float(np.std(s)) or 1.0)
    oracle = oracle_threshold(np.mean(test_scores, axis=0), yt, op.target)
    if DUMP and tag:
        np.savez(DUMP / f"{sim.cfg.name} {tag} {int(labelled.sum())}.npz", s=s, y=y, b=b, u=u, ub=ub, test=np.mean(test_scores, axis=0), yt=yt,
                 thr=thr, op=np.array([op.rule, op.target, op.per_block, op.reserve], dtype=object))
    if not refit:
        return {"bagged": (fn_b, fp_b), "margin": margin, "oracle": oracle}
    all_ = replace(data, splits={"train": sim.pickable[labelled], "val": sim.pickable[labelled], "test": test},
                   pool={s: np.zeros(0, int) for s in ("train", "val", "test")})
    all_ = replace(all_, blocks={s: block_of(r, n, sim.cfg.split.blocks) for s, r in all_.splits.items()})
    head = Evaluator(all_, all_.cfg).retrain_all([ref])[0].head
    fp_r, fn_r = rates(yt, (scores_of(head, ref, sim, test) >= thr).astype(int))
    return {"bagged": (fn_b, fp_b), "refit": (fn_r, fp_r), "margin": margin, "oracle": oracle}


def oracle_threshold(scores: np.ndarray, y: np.ndarray, target: float) -> tuple[float, float, float]:
    """(test FN, test FP, test AUC) of the bagged head at the test oracle's threshold: the lowest
    one that holds test FP at the target (twelfth run). What its ranking alone is worth, whatever
    any rule on the labelled frames could place."""
    from sklearn.metrics import roc_auc_score

    neg = np.sort(scores[y == 0])[::-1]
    k = int(np.floor(target * len(neg) + 1e-9))
    thr = np.nextafter(neg[k], np.inf) if k < len(neg) else -np.inf
    fp, fn = rates(y, (scores >= thr).astype(int))
    return fn, fp, float(roc_auc_score(y, scores))


def run(sim: Sim, seed: int, counts: list[int], ref, orders: tuple[str, ...], oracle_margin: np.ndarray | None = None,
        refit: bool = True) -> None:
    rng = np.random.default_rng(seed)
    sim.cfg.search.seed = seed
    starts = {"random": sim.until_trainable(rng.choice(sim.pickable, counts[0], replace=False), rng)}
    starts["even"] = sim.until_trainable(sim.nested(counts[0], seed), rng)
    starts["margin"] = starts["mix"] = starts["oracle"] = starts["both"] = starts["cycles"] = starts["even"]
    val, train = sim.full.splits["val"], sim.full.splits["train"]
    val_order = ceiling.nested(val, seed) if len(np.intersect1d(val, sim.pickable)) else np.zeros(0, int)
    train_order = ceiling.nested(train, seed + 1000)  # a stream of its own, as in the ceiling run
    known = dict(starts)
    for i, count in enumerate(counts):
        for o in orders:
            if o == "even" and i > 0:
                known[o] = ceiling.even_at(sim, count, seed, starts[o])
            fn, fp, held_margin = ceiling.fit(sim, known[o], ref)
            res = {"holdout": (fn, fp)}
            res |= crossfit(sim, known[o], ref, refit, f"{seed} {o}") or {"margin": held_margin}
            margin = res.pop("margin")
            oracle = res.pop("oracle", None)
            for way, (fn, fp) in res.items():
                print(f"{sim.cfg.name:>16} seed {seed} {o:>7} {way:>7} {len(known[o]):>4} labels: fixed input FN {fn:.3f} FP {fp:.3f}", flush=True)
            if oracle:
                print(f"{sim.cfg.name:>16} seed {seed} {o:>7} test-oracle threshold {len(known[o]):>4} labels: FN {oracle[0]:.3f} FP {oracle[1]:.3f} AUC {oracle[2]:.4f}", flush=True)
            if i + 1 == len(counts) or counts[i + 1] <= len(known[o]):
                continue
            more = counts[i + 1] - len(known[o])
            if o == "random":
                known[o] = np.union1d(known[o], rng.choice(np.setdiff1d(sim.pickable, known[o]), more, replace=False))
            elif o in ("margin", "mix", "oracle"):
                known[o] = ceiling.batch(sim, known[o], more, oracle_margin if o == "oracle" else margin, val_order,
                                         train_order if o == "mix" else None)
            elif o in ("both", "cycles"):
                known[o] = near_threshold(sim, known[o], more, margin, o == "cycles")


def near_threshold(sim: Sim, known: np.ndarray, more: int, margin: np.ndarray, by_cycle: bool) -> np.ndarray:
    """`more` unlabelled training and validation frames nearest the threshold, no two within
    `LABEL_MIN_GAP` frames: in the split's shares (`both`), or the time cycles in turn (`cycles`)."""
    full = sim.full
    f_train, f_val = sim.cfg.split.fractions[:2]
    n_val = int(round(more * f_val / (f_train + f_val)))
    labelled = set(known.tolist())
    order = [int(sim.pickable[i]) for i in np.argsort(margin, kind="stable") if int(sim.pickable[i]) not in labelled]
    val, train = set(full.splits["val"].tolist()), set(full.splits["train"].tolist())
    picks: list[int] = []

    def take(rows: list[int], n: int) -> None:
        for r in rows:
            if n <= 0:
                return
            if r not in picks and all(abs(r - p) >= ceiling.LABEL_MIN_GAP for p in picks):
                picks.append(r)
                n -= 1

    if not by_cycle:
        take([r for r in order if r in val], n_val)
        take([r for r in order if r in train], more - len(picks))
        return np.union1d(known, picks).astype(int)
    blocks = sim.cfg.split.blocks  # the pickable rows are the training and validation blocks' already
    cyc = dict(zip(order, block_of(np.array(order, int), len(full.ids), blocks).tolist(), strict=True)) if order else {}
    for k in itertools.count():  # round k starts at cycle k mod blocks; stop when full, or when a round adds nothing
        before = len(picks)
        for c in range(blocks):
            if len(picks) < more:
                take([r for r in order if cyc[r] == (k + c) % blocks], 1)
        if len(picks) in (before, more):
            break
    return np.union1d(known, picks).astype(int)


LINE = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\w+)\s+(\d+) labels: fixed input FN ([\d.]+) FP ([\d.]+)")


ORACLE = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+) test-oracle threshold\s+(\d+) labels: FN ([\d.]+) FP ([\d.]+) AUC ([\d.]+)")
EVERY = re.compile(r"\s*(\S+) every label \(\d+\): .*?refit FN ([\d.]+); target ([\d.]+)")


def from_logs(logs: list[str], plot: str | None = None, against: str | None = None) -> None:
    """Mean curves by count (the i-th count of a seed's run), and paired tests against holdout
    (with `against`, also each order's cross-fitted cells against that order's, seed by seed and
    count by count). `crossfit` is what a product would do: bagged where every fold could train,
    else holdout."""
    from scipy.stats import wilcoxon

    cells: dict = {}  # query -> order -> seed -> [{way: (labels, fn, fp)}], one dict per count
    refs: dict[str, tuple[float, float]] = {}
    for log in logs:
        for line in Path(log).read_text().splitlines():
            if m := EVERY.match(line):
                refs[m[1]] = (float(m[2]), float(m[3]))
            elif m := LINE.match(line):
                runs = cells.setdefault(m[1], {}).setdefault(m[3], {}).setdefault(int(m[2]), [])
                if m[4] == "holdout":
                    runs.append({})
                runs[-1][m[4]] = (int(m[5]), float(m[6]), float(m[7]))
            elif m := ORACLE.match(line):
                cells[m[1]][m[3]][int(m[2])][-1]["oracle"] = (int(m[4]), float(m[5]), float(m[6]), float(m[7]))
    drawn: dict[str, dict[str, list[tuple]]] = {}  # query -> "order way" -> mean curve, for --plot
    reach: dict[str, dict[str, tuple]] = {}  # query -> order -> (labels to reach cross-fitted, at the test oracle's threshold)
    for q, by in cells.items():
        ref_fn, target = refs[q]
        print(f"\n{q}: mean fixed-input test FN / FP (every label, held out: {ref_fn:.3f}; bar {ref_fn + FN_TOL:.3f} FN, {target + FP_SLACK:.2f} FP)")
        for o, by_seed in sorted(by.items()):
            for runs in by_seed.values():
                for c in runs:
                    c["crossfit"] = c.get("bagged", c["holdout"])
            seeds = sorted(by_seed)
            n = min(len(v) for v in by_seed.values())
            has_refit = any("refit" in c for runs in by_seed.values() for c in runs)
            for way in ("holdout", "crossfit", "refit")[:3 if has_refit else 2]:
                if any(way not in by_seed[s][k] for s in seeds for k in range(n)):
                    way_cells = {(s, k): by_seed[s][k].get(way, by_seed[s][k]["holdout"]) for s in seeds for k in range(n)}
                else:
                    way_cells = {(s, k): by_seed[s][k][way] for s in seeds for k in range(n)}
                curve = [tuple(np.mean([way_cells[(s, k)][j] for s in seeds]) for j in range(3)) for k in range(n)]
                if way != "refit":
                    drawn.setdefault(q, {})[f"{o} {way}"] = curve
                print(f"| {o} {way} ({len(seeds)} seeds) | " + " | ".join(f"{c[0]:.0f}: {c[1]:.3f} / {c[2]:.3f}" for c in curve)
                      + f" | labels to reach: {ceiling.reached(curve, ref_fn, target)}")
                if way == "crossfit":
                    reach.setdefault(q, {})[o] = (ceiling.reached(curve, ref_fn, target), None)
            oracle = [[by_seed[s][k]["oracle"] for s in seeds if "oracle" in by_seed[s][k]] for k in range(n)]
            if all(oracle):
                curve = [tuple(np.mean([c[j] for c in cs]) for j in range(4)) for cs in oracle]
                got = ceiling.reached([c[:3] for c in curve], ref_fn, target)
                reach[q][o] = (reach[q][o][0], got)
                print(f"| {o} test-oracle threshold ({min(map(len, oracle))}+ seeds) | "
                      + " | ".join(f"{c[0]:.0f}: {c[1]:.3f} / {c[2]:.3f}, AUC {c[3]:.4f}" for c in curve) + f" | labels to reach: {got}")
            for way in ("crossfit", "refit")[:2 if has_refit else 1]:
                pairs = [(c.get(way, c["holdout"])[1], c["holdout"][1], c.get(way, c["holdout"])[2] - c["holdout"][2])
                         for s in seeds for c in by_seed[s][:n]]
                x, y, dfp = np.array(pairs).T
                same = x == y
                p = wilcoxon(x[~same], y[~same]).pvalue if (~same).sum() else 1.0
                print(f"- {o} {way} - holdout: {np.mean(x - y):+.3f} test FN ({np.mean(dfp):+.3f} FP), lower {int((x < y).sum())} / "
                      f"equal {int(same.sum())} / higher {int((x > y).sum())} of {len(x)} cells, p = {p:.2g}")
        for o in sorted(by) if against in by else []:
            if o == against:
                continue
            pairs = [(a["crossfit"][1], b["crossfit"][1], a["crossfit"][2] - b["crossfit"][2])
                     for s in sorted(set(by[o]) & set(by[against])) for a, b in zip(by[o][s], by[against][s])]
            x, y, dfp = np.array(pairs).T
            same = x == y
            p = wilcoxon(x[~same], y[~same]).pvalue if (~same).sum() else 1.0
            print(f"- {o} - {against}, cross-fitted: {np.mean(x - y):+.3f} test FN ({np.mean(dfp):+.3f} FP), lower {int((x < y).sum())} / "
                  f"equal {int(same.sum())} / higher {int((x > y).sum())} of {len(x)} cells, p = {p:.2g}")
    print("\nLabels to reach, cross-fitted threshold / the test oracle's threshold (best order / random):")
    for q, by in reach.items():
        def ratio(j: int) -> str:
            best = min((r[j] for o, r in by.items() if o != "random" and r[j] is not None), default=None)
            rnd = by.get("random", (None, None))[j]
            return f"{best / rnd:.2f}" if best and rnd else "-"
        print(f"| {q} | " + " | ".join(f"{o} {r[0]} / {r[1]}" for o, r in sorted(by.items())) + f" | {ratio(0)} / {ratio(1)} |")
    if plot:
        ceiling.draw(drawn, {q: r[0] for q, r in refs.items()}, plot, style)


def style(name: str) -> tuple[str, dict]:
    """Held out dashed, cross-fitted solid, one colour per order (for `ceiling.draw`)."""
    order, way = name.split()
    return ("o-" if way == "crossfit" else "o--",
            {"color": "tab:blue" if order == "even" else "tab:orange", "label": f"{order}, {'cross-fitted' if way == 'crossfit' else 'held out'}"})


def main() -> None:
    if sys.argv[1] == "--from-log":
        args = sys.argv[2:]
        plot = args[args.index("--plot") + 1] if "--plot" in args else None
        against = args[args.index("--against") + 1] if "--against" in args else None
        return from_logs([a for a in args if a not in ("--plot", plot, "--against", against)], plot, against)
    global DUMP
    refit = "--no-refit" not in sys.argv
    argv = [a for a in sys.argv if a != "--no-refit"]
    if "--dump" in argv:
        i = argv.index("--dump")
        DUMP = Path(argv[i + 1])
        DUMP.mkdir(parents=True, exist_ok=True)
        del argv[i:i + 2]
    names, seeds = argv[1].split(","), range(*map(int, argv[2].split(":")))
    counts = [int(c) for c in argv[3].split(",")]
    orders = tuple(argv[4].split(",")) if len(argv) > 4 else ("random", "even")
    with tempfile.TemporaryDirectory() as tmp:
        for path in [p for p in queries() if p.stem in names]:
            t = time.perf_counter()
            sim = Sim(path, 16, Path(tmp))
            sim.cfg.search.operating_point.crossfit = "off"  # the held-out split, as measured (the product cross-fits few labels since)
            sim.cfg.search.seed = 0
            every = sim.search(sim.data(sim.pickable))[1]
            ref = sim.pick
            assert ref is not None
            ref_fn = ceiling.fit(sim, sim.pickable, ref)[0]
            cf = crossfit(sim, sim.pickable, ref, tag="0 every") or {}
            oracle_margin = cf.pop("margin", None)
            every_oracle = cf.pop("oracle", None)
            target = sim.cfg.search.operating_point.target
            print(f"{sim.cfg.name:>16} every label ({every['labels']}): test FN {every['test_fn']:.3f} FP {every['test_fp']:.3f}; "
                  f"its pick trial {ref.number}, {ref.input.layer} {ref.head}; refit FN {ref_fn:.3f}; target {target}; "
                  + "; ".join(f"{w} FN {fn:.3f} FP {fp:.3f}" for w, (fn, fp) in cf.items())
                  + (f"; the bagged head at the test oracle's threshold FN {every_oracle[0]:.3f} FP {every_oracle[1]:.3f} AUC {every_oracle[2]:.4f}"
                     if every_oracle else ""), flush=True)
            for s in seeds:
                run(sim, s, counts, ref, orders, oracle_margin, refit)
            print(f"({time.perf_counter() - t:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
