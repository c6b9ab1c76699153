"""How far can any labelling order go? A ceiling for issue 12's goal, judged with the input fixed.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-04-ceiling.py QUERY[,QUERY] FIRST:LAST COUNTS [ORDER,ORDER] [--val-all | --val-needs]
    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-04-ceiling.py QUERY[,QUERY] FIRST:LAST TRAIN,COUNTS/VAL,COUNTS --grid
    .venv/bin/python bench/logs/label_efficiency/2026-12-04-ceiling.py --from-log CEILING.log [...] [--bench BENCH.log ...] [--plot PNG]

With `--val-all` the validation block is labelled from the start (the bench's `--val all`): the
orders pick training frames only, and counts are training labels. With `--val-needs` every
training frame is labelled and counts are validation labels (`val_needs`); `--grid` crosses random
training frames with nested validation frames (`grid`). QUERY is a file stem of
bench/query_suite.py's queries (`car` is the bundled query), seeds FIRST to LAST - 1. `--from-log` merges runs' printed lines (seeds split over runs, say): the mean
curves, labels to reach, and cell-by-cell Wilcoxon tests of margin against the other orders and,
from the bench's logs given after `--bench`, against label-next's frames judged the same way
(the bench prints "fixed input FN" on each line, with the same every-label pick).

With the every-label search's pick fixed (input, head, hyper-parameters, seed: the bench's "fixed
input" judge), only the head and its threshold are trained on each labelled set. Six orders:

- **random**: the bench's random frames from their own 12-frame start (the same draws: its lines
  reproduce the bench's fixed-input numbers for that seed);
- **even**: the bench's nested evenly spaced frames (`--even-nested`);
- **margin**: classic uncertainty sampling on the fixed input itself. From even's start, each batch's
  training share is the unlabelled training frames nearest the head's threshold as trained on the
  labels so far (in its validation scores' SD), no two within `LABEL_MIN_GAP` frames; its validation
  share is the next validation frames of the seed's nested time order, as label-next keeps
  validation spread (a hard validation set sets the threshold wrong);
- **region**: the same, with the margins of the best (by the search's own rule on the labelled
  validation frames) of the heads that read the query region's cells, one per layer, trained on
  the labels so far: what label-next could do after any search, or none (the default sampler
  enqueues exactly these trials first), knowing nothing of the every-label pick;
- **mix**: label-next's shape with a perfect input: half the training share by the fixed input's
  margins (as margin), the other half the next training frames of the seed's nested time order
  (exploration spread evenly, which was as good as label-next's typical frames);
- **oracle**: the same as margin, with the margins of the head trained on every label: the frames that
  really are hard for this input, known in advance. No proposal rule can know them better.

If none of them, knowing the right input and (the oracle) the hard frames, reaches the every-label
test FN (within 0.02, mean test FP within the target + 0.03) with a third of random frames' labels,
a proposal rule that knows less is unlikely to; the search's own choice of input on few labels
only adds noise. Not a proof: an order chosen with hindsight could do better than any rule here.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from label_efficiency import FN_TOL, FP_SLACK, Sim, panels  # noqa: E402
from label_efficiency import reached as bench_reached  # noqa: E402
from query_suite import queries  # noqa: E402

from autocrop.config import load_config  # noqa: E402
from autocrop.dataset import prepare  # noqa: E402
from autocrop.defaults import LABEL_MIN_GAP  # noqa: E402
from autocrop.evaluation import Evaluator  # noqa: E402
from autocrop.timegrid import time_order  # noqa: E402

ORDERS = ("random", "even", "margin", "region", "mix", "oracle")


def margins(sim: Sim, out) -> np.ndarray:
    """A trained outcome's distance from its threshold on every pickable row, in its validation scores' SD
    (as label-next's votes measure it, `votes.head_votes`)."""
    with torch.no_grad():
        s = out.head(torch.from_numpy(out.record.input.gather_windows(sim.full.store, sim.pickable))[None])[0].numpy()
    spread = float(np.std(out.val_scores)) if out.val_scores is not None and len(out.val_scores) > 1 else 1.0
    return np.abs(s - out.record.metrics["threshold"]) / (spread or 1.0)


def nested(rows: np.ndarray, seed: int) -> np.ndarray:
    """`rows` in the order the seed's nested time order visits them (`timegrid.time_order`)."""
    return np.sort(rows)[time_order(len(rows), seed)]


def even_at(sim: Sim, count: int, seed: int, start: np.ndarray) -> np.ndarray:
    """The nested evenly spaced frames at `count`, with the start's frames where they alone cannot train."""
    rows = sim.nested(count, seed)
    return rows if sim.trainable(rows) else np.union1d(rows, start)


def fit(sim: Sim, known: np.ndarray, ref):
    """The fixed input's head trained on `known`: its test FN, FP and its margins on every pickable row."""
    data = sim.data(known)
    out = Evaluator(data, data.cfg).retrain_all([ref])[0]
    return out.record.metrics["test_fn"], out.record.metrics["test_fp"], margins(sim, out)


def region_margin(sim: Sim, known: np.ndarray) -> np.ndarray:
    """Margins on every pickable row of the best region-cells head trained on `known`."""
    from autocrop.crops import Crop
    from autocrop.samplers.rf import roi_proposals
    from autocrop.selection import best_of
    from autocrop.space import TrialSpec

    data = sim.data(known)
    ev = Evaluator(data, data.cfg)
    if not hasattr(sim, "roi_specs"):  # the region's cells do not depend on the labels
        sim.roi_specs = []
        for params, _ in roi_proposals(data, sim.space):
            hp = {n.split(".", 1)[1]: v for n, v in params.items() if n.startswith(params["head"] + ".")}
            crop = Crop.from_center(params["crop_cx"], params["crop_cy"], params["crop_w"], params["crop_h"])
            sim.roi_specs.append(TrialSpec(params["layer"], crop, params["head"], hp))
    outs = ev.run([ev.job(spec, k) for k, spec in enumerate(sim.roi_specs)], keep=True)
    op = data.cfg.search.operating_point
    best = best_of([o.record for o in outs], op.target, op.rule)
    return margins(sim, next(o for o in outs if o.record is best))


def batch(sim: Sim, known: np.ndarray, more: int, margin: np.ndarray, val_order: np.ndarray,
          train_order: np.ndarray | None = None) -> np.ndarray:
    """`more` frames: the validation share next in time order, the training share nearest the
    threshold (with `train_order`, half of it: the rest are the next frames of that order)."""
    f_train, f_val = sim.cfg.split.fractions[:2]
    n_val = int(round(more * f_val / (f_train + f_val)))
    labelled = set(known.tolist())
    val = [r for r in val_order if r not in labelled][:n_val]
    train = set(sim.full.splits["train"].tolist())
    n_margin = more - len(val) if train_order is None else (more - len(val) + 1) // 2
    picks: list[int] = []
    for i in np.argsort(margin, kind="stable"):
        row = int(sim.pickable[i])
        if len(picks) == n_margin:
            break
        if row in train and row not in labelled and all(abs(row - p) >= LABEL_MIN_GAP for p in picks):
            picks.append(row)
    if train_order is not None:
        taken = labelled | set(picks)
        picks += [int(r) for r in train_order if r not in taken][:more - len(val) - len(picks)]
    return np.union1d(known, [*val, *picks]).astype(int)


def run(sim: Sim, seed: int, counts: list[int], ref, oracle_margin: np.ndarray,
        orders: tuple[str, ...] = ORDERS) -> dict[str, list[tuple[int, float, float]]]:
    rng = np.random.default_rng(seed)
    sim.cfg.search.seed = seed
    # the bench's --start own draws: label-next's cold start first (it takes no draw from rng), then random frames' start
    starts = {"random": sim.until_trainable(rng.choice(sim.pickable, counts[0], replace=False), rng)}
    starts["even"] = sim.until_trainable(sim.nested(counts[0], seed), rng)
    starts["margin"] = starts["region"] = starts["mix"] = starts["oracle"] = starts["even"]
    val, train = sim.full.splits["val"], sim.full.splits["train"]
    val_order = nested(val, seed) if len(np.intersect1d(val, sim.pickable)) else np.zeros(0, int)
    train_order = nested(train, seed + 1000)  # a stream of its own
    known = dict(starts)
    out: dict[str, list[tuple[int, float, float]]] = {o: [] for o in orders}
    for i, count in enumerate(counts):
        for o in orders:
            if o == "even" and i > 0:
                known[o] = even_at(sim, count, seed, starts[o])
            fn, fp, margin = fit(sim, known[o], ref)
            out[o].append((len(known[o]), fn, fp))
            print(f"{sim.cfg.name:>16} seed {seed} {o:>7} {len(known[o]):>4} labels: fixed input FN {fn:.3f} FP {fp:.3f}", flush=True)
            if i + 1 == len(counts):
                continue
            more = counts[i + 1] - len(known[o])
            if more <= 0:
                continue
            if o == "random":
                known[o] = np.union1d(known[o], rng.choice(np.setdiff1d(sim.pickable, known[o]), more, replace=False))
            elif o in ("margin", "region", "mix", "oracle"):
                by = {"margin": margin, "mix": margin, "oracle": oracle_margin}.get(o)
                known[o] = batch(sim, known[o], more, region_margin(sim, known[o]) if by is None else by, val_order,
                                 train_order if o == "mix" else None)
    return out


def val_needs(sim: Sim, seed: int, counts: list[int], ref) -> None:
    """`--val-needs`: every training frame labelled, and `count` validation frames, the first of the
    seed's nested time order (`valnest`, as label-next spreads them) or at random (`valrand`):
    how many validation labels the operating point needs when the head has every training label."""
    val, train = sim.full.splits["val"], sim.full.splits["train"]
    orders = {"valnest": nested(val, seed), "valrand": np.random.default_rng([seed, 3]).permutation(val)}
    for name, order in orders.items():
        for count in counts:
            known = np.r_[train, order[:count]]
            if not sim.trainable(known):
                print(f"{sim.cfg.name:>16} seed {seed} {name:>7} {count:>4} labels: a validation block lacks a class", flush=True)
                continue
            fn, fp, _ = fit(sim, known, ref)
            print(f"{sim.cfg.name:>16} seed {seed} {name:>7} {count:>4} labels: fixed input FN {fn:.3f} FP {fp:.3f}", flush=True)


def grid(sim: Sim, seeds, train_counts: list[int], val_counts: list[int], ref, target: float, ref_fn: float) -> None:
    """`--grid`: random training frames (the seed's permutation of the training block) times
    validation frames in the seed's nested time order, every pair of counts: which split of a label
    budget between the two reaches the every-label FN soonest, with the input fixed."""
    val, train = sim.full.splits["val"], sim.full.splits["train"]
    res: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for seed in seeds:
        t_order = np.random.default_rng([seed, 4]).permutation(train)
        v_order = nested(val, seed)
        for kt in train_counts:
            for kv in val_counts:
                known = np.r_[t_order[:kt], v_order[:kv]]
                if not sim.trainable(known):
                    continue
                fn, fp, _ = fit(sim, known, ref)
                res.setdefault((kt, kv), []).append((fn, fp))
                print(f"{sim.cfg.name:>16} seed {seed} grid {kt} train + {kv} val: fixed input FN {fn:.3f} FP {fp:.3f}", flush=True)
    grid_table(sim.cfg.name, res, len(seeds), train_counts, val_counts, ref_fn, target)


GRID = re.compile(r"\s*(\S+) seed (\d+) grid (\d+) train \+ (\d+) val: fixed input FN ([\d.]+) FP ([\d.]+)")


def grid_table(q: str, res: dict, n_seeds: int, train_counts: list[int], val_counts: list[int], ref_fn: float, target: float) -> None:
    print(f"\n{q}: mean fixed-input test FN / FP, training labels (rows) x validation labels (columns); "
          f"* at the bar ({ref_fn + FN_TOL:.3f} FN, {target + FP_SLACK:.2f} FP); seeds in brackets where fewer could train")
    print("| train \\ val | " + " | ".join(map(str, val_counts)) + " |")
    for kt in train_counts:
        cells = []
        for kv in val_counts:
            c = res.get((kt, kv), [])
            if not c:
                cells.append("-")
                continue
            fn, fp = np.mean(c, axis=0)
            ok = bool(fn <= ref_fn + FN_TOL + 1e-9 and fp <= target + FP_SLACK + 1e-9)
            cells.append(f"{'*' * ok}{fn:.3f} / {fp:.3f}" + (f" ({len(c)})" if len(c) < n_seeds else ""))
        print(f"| {kt} | " + " | ".join(cells) + " |", flush=True)


def reached(curve: list[tuple[float, float, float]], ref_fn: float, target: float) -> int | None:
    """The bench's "labels to reach" (`label_efficiency.reached`, fixed-input judge) of a (labels, FN, FP) curve."""
    return bench_reached([{"labels": n, "fixed_fn": fn, "fixed_fp": fp} for n, fn, fp in curve], {"test_fn": ref_fn}, target, "fixed")


LINE = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\d+) labels: .*fixed input FN ([\d.]+) FP ([\d.]+)")
EVERY = re.compile(r"\s*(\S+) every label \(\d+\): .*refit FN ([\d.]+)")


def from_logs(logs: list[str], bench: list[str], plot: str | None = None) -> None:
    """Merge the runs' lines: per query, mean curves by count index, labels to reach, paired tests."""
    from scipy.stats import wilcoxon

    cells: dict[str, dict[str, dict[int, list[tuple[int, float, float]]]]] = {}  # query -> order -> seed -> [(labels, fn, fp)]
    refs: dict[str, float] = {}
    grids: dict[str, dict[tuple[int, int], dict[int, tuple[float, float]]]] = {}  # query -> (train, val) -> seed -> (fn, fp)
    for log in logs:
        for line in Path(log).read_text().splitlines():
            if m := EVERY.match(line):
                refs[m[1]] = float(m[2])
            elif m := GRID.match(line):
                grids.setdefault(m[1], {}).setdefault((int(m[3]), int(m[4])), {})[int(m[2])] = (float(m[5]), float(m[6]))
            elif m := LINE.match(line):
                cells.setdefault(m[1], {}).setdefault(m[3], {}).setdefault(int(m[2]), []).append((int(m[4]), float(m[5]), float(m[6])))
    nexts: dict[str, dict[tuple[int, int], float]] = {}  # label-next's fixed-input FN by (seed, labels), the first line of each
    for log in bench:
        for line in Path(log).read_text().splitlines():
            if (m := LINE.match(line)) and m[3] == "proposals":
                nexts.setdefault(m[1], {}).setdefault((int(m[2]), int(m[4])), float(m[5]))
    cfgs = {c.name: c for c in map(load_config, queries())}
    targets = {q: c.search.operating_point.target for q, c in cfgs.items()}
    for q in {*cells, *grids}:  # printed to 3 decimals: back to their exact fractions of the test block, as the bench does
        y = prepare(cfgs[q], need_trainable=False)
        t = y.y[y.splits["test"]]
        pos, neg = int(t.sum()), int((t == 0).sum())
        for by_seed in cells.get(q, {}).values():
            for seed, rows in by_seed.items():
                by_seed[seed] = [(n, round(fn * pos) / pos, round(fp * neg) / neg) for n, fn, fp in rows]
        refs[q] = round(refs[q] * pos) / pos
        for by_seed in grids.get(q, {}).values():
            for seed, (fn, fp) in by_seed.items():
                by_seed[seed] = (round(fn * pos) / pos, round(fp * neg) / neg)
        for key, fn in nexts.get(q, {}).items():
            nexts[q][key] = round(fn * pos) / pos
    for q, cells_by in grids.items():  # --grid logs
        seeds = {seed for by_seed in cells_by.values() for seed in by_seed}
        grid_table(q, {k: list(v.values()) for k, v in cells_by.items()}, len(seeds), sorted({k[0] for k in cells_by}),
                   sorted({k[1] for k in cells_by}), refs[q], targets[q])
    curves: dict[str, dict[str, list[tuple]]] = {}
    for q, orders in cells.items():
        if any(o.startswith("val") for o in orders):  # --val-needs: by validation label count (a count can lack a class)
            print(f"\n{q}: every training frame labelled; mean fixed-input test FN / FP by validation labels (every label {refs[q]:.3f}; "
                  f"bar {refs[q] + FN_TOL:.3f} FN, {targets[q] + FP_SLACK:.2f} FP; seeds in brackets where fewer could train)")
            for o, by_seed in orders.items():
                rows = [r for seed_rows in by_seed.values() for r in seed_rows]
                ks = sorted({r[0] for r in rows})
                by_count = [(k, [r for r in rows if r[0] == k]) for k in ks]
                print(f"| {o} | " + " | ".join(f"{k}: {np.mean([r[1] for r in c]):.3f} / {np.mean([r[2] for r in c]):.3f}"
                                               + (f" ({len(c)})" if len(c) < len(by_seed) else "") for k, c in by_count) + " |")
            continue
        seeds = sorted(set.intersection(*(set(v) for o, v in orders.items() if o in ("random", "even", "margin", "oracle"))))
        print(f"\n{q}: mean fixed-input test FN / FP over {len(seeds)} seeds (every label {refs[q]:.3f}; bar {refs[q] + FN_TOL:.3f} FN, "
              f"{targets[q] + FP_SLACK:.2f} FP)")
        for o in ORDERS:
            ss = [s for s in seeds if s in orders.get(o, {})]
            if not ss:
                continue
            curve = [tuple(np.mean([orders[o][s][k][j] for s in ss]) for j in range(3)) for k in range(len(orders[o][ss[0]]))]
            curves.setdefault(q, {})[o] = curve
            print(f"| {o}{f' ({len(ss)} seeds)' * (len(ss) < len(seeds))} | " + " | ".join(f"{fn:.3f} / {fp:.3f}" for _, fn, fp in curve) + f" | labels to reach: {reached(curve, refs[q], targets[q])}")
        for mine in ("margin", "region", "mix"):
            for o in ("random", "even", "oracle", "label-next"):
                if mine not in orders or (o != "label-next" and o not in orders) or (o == "label-next" and q not in nexts):
                    continue
                ss = [s for s in seeds if s in orders[mine] and (o == "label-next" or s in orders[o])]
                pairs = [(c[1], orders[o][s][k][1] if o != "label-next" else nexts[q][(s, c[0])]) for s in ss
                         for k, c in enumerate(orders[mine][s]) if o != "label-next" or (s, c[0]) in nexts[q]]
                x, y = np.array(pairs).T
                same = x == y
                p = wilcoxon(x[~same], y[~same]).pvalue if (~same).sum() else 1.0
                print(f"- {mine} - {o}{' (the bench lines at the same seed and label count)' * (o == 'label-next')}: {np.mean(x - y):+.3f} test FN, "
                      f"lower {int((x < y).sum())} / equal {int(same.sum())} / higher {int((x > y).sum())} of {len(x)} cells, p = {p:.2g}")
    if plot:
        draw(curves, refs, plot)


def draw(curves: dict, refs: dict, path: str, style=None) -> None:
    """Test FN against labels, a panel per query; `style(name)` gives a curve's format and plot keywords
    (by default, solid and labelled by its name, margin bold)."""
    fig, axes = panels(len(curves))
    for ax, (q, by) in zip(axes.flat, curves.items(), strict=False):
        for o, curve in by.items():
            fmt, kw = style(o) if style else ("o-", {"label": o, "lw": 2.2 if o == "margin" else 1.1})
            ax.plot([c[0] for c in curve], [c[1] for c in curve], fmt, ms=3, **kw)
        ax.axhline(refs[q], color="grey", ls="--", label="every label")
        ax.axhspan(0, refs[q] + FN_TOL, color="grey", alpha=0.08)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{q} (input fixed)")
        ax.set_xlabel("labelled train + validation frames")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test FN at the operating point")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"plot: {path}")


def main() -> None:
    if sys.argv[1] == "--from-log":
        args = sys.argv[2:]
        plot = None
        if "--plot" in args:
            i = args.index("--plot")
            plot, args = args[i + 1], args[:i] + args[i + 2:]
        cut = args.index("--bench") if "--bench" in args else len(args)
        return from_logs(args[:cut], args[cut + 1:], plot)
    names, seeds = sys.argv[1].split(","), range(*map(int, sys.argv[2].split(":")))
    counts = [int(c) for c in sys.argv[3].split(",")] if "/" not in sys.argv[3] else []
    val_all = "--val-all" in sys.argv  # the validation block labelled from the start: orders pick training frames only
    args = [a for a in sys.argv if a not in ("--val-all", "--val-needs", "--grid")]
    orders = tuple(args[4].split(",")) if len(args) > 4 else ORDERS  # random's draws and every start are the same whichever run
    with tempfile.TemporaryDirectory() as tmp:
        for path in [p for p in queries() if p.stem in names]:
            t = time.perf_counter()
            sim = Sim(path, 16, Path(tmp), val_all)
            sim.cfg.search.operating_point.crossfit = "off"  # the held-out split, as measured (the product cross-fits few labels since)
            sim.cfg.search.seed = 0
            every = sim.search(sim.data(sim.pickable))[1]
            ref = sim.pick
            assert ref is not None
            ref_fn, _, oracle_margin = fit(sim, sim.pickable, ref)
            target = sim.cfg.search.operating_point.target
            print(f"{sim.cfg.name:>16} every label ({every['labels']}): test FN {every['test_fn']:.3f} FP {every['test_fp']:.3f}; "
                  f"its pick trial {ref.number}, {ref.input.layer} {ref.head}; refit FN {ref_fn:.3f}", flush=True)
            if "--grid" in sys.argv:  # COUNTS is then TRAIN/VAL, e.g. 12,16,24/6,9,12
                tc, vc = sys.argv[3].split("/")
                grid(sim, list(seeds), [int(c) for c in tc.split(",")], [int(c) for c in vc.split(",")], ref, target, ref_fn)
                continue
            if "--val-needs" in sys.argv:
                for seed in seeds:
                    val_needs(sim, seed, counts, ref)
                continue
            runs = [run(sim, s, counts, ref, oracle_margin, orders) for s in seeds]
            means = {o: [tuple(np.mean([r[o][k][j] for r in runs]) for j in range(3)) for k in range(len(counts))] for o in orders}
            print(f"\n{sim.cfg.name}: mean fixed-input test FN / FP over {len(runs)} seeds (bar {ref_fn + FN_TOL:.3f} FN, {target + FP_SLACK:.2f} FP)")
            for o in orders:
                cells = " | ".join(f"{fn:.3f} / {fp:.3f}" for _, fn, fp in means[o])
                print(f"| {o} | {cells} | labels to reach: {reached(means[o], ref_fn, target)}")
            print(f"({time.perf_counter() - t:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
