"""How many labels does a query need? label-next's proposals vs random frames vs frames evenly spaced in time.

    .venv/bin/python bench/label_efficiency.py [--only car,right-near,far-band] [--counts 24,48,96,192,384] [--trials 24] [--seeds 3] [--val share|all] [--methods proposals,random,even] [--gaps] [--batch N] [--start shared|own] [--even-phase | --even-nested] [--write BENCHMARKS.md | --plot PATH]
    .venv/bin/python bench/label_efficiency.py --from-log a.log b.log [...]   # tables and plot of earlier runs (their queries and seeds)

Simulated labelling on the highway query suite: the masks play the annotator. Every method starts
from the same seed set (label-next's cold start: half typical, half random training frames, stratified validation frames,
then label-next's batches of 4 until a search can run, seeking the class a split lacks;
with `--start own`, random and even frames start from frames of their own), then, per label count, runs the default search on what is labelled (fixed budget, linear heads,
no MLflow) and judges its pick (made on validation at the operating point) on the test block,
which is always fully labelled. Each seed repeats all of it (cold start, random draws, search
seed); curves are means over seeds, because one search on a few labels is a noisy judge. (On these
queries the search itself hardly depends on its seed: the default sampler's group-lasso and
receptive-field crops follow from the labels, so every-label runs and evenly spaced frames give
one result for all seeds. What varies with the seed is which frames are labelled.) Between
counts:

- **proposals**: `label-next` after that search reveals the next batch;
- **random**: random unlabelled train and validation frames are revealed (seeded);
- **even**: the labelled set is that many frames evenly spaced in time over train and validation
  (a new grid at each count; with `--even-phase` its phase is drawn per seed, else every seed
  labels the same grid). With `--even-nested` the frames only grow from count to count, as a
  user labelling batch by batch can: the first `count` of the seed's nested order (`time_order`),
  each power-of-two prefix a grid with a phase, the frames between in its gaps.

With `--val all` the validation block is labelled from the start and only training frames are
picked (counts are training labels): what a method's training picks are worth, apart from what
the operating point needs from validation.

The reference is the same search on every label (mean over the seeds). A method reaches it at the
first count from which on its mean test FN stays within 0.02 of it, with mean test FP within the
target + 0.03. With --write, plots test FN against labels into docs/label_efficiency.png and
writes a table into BENCHMARKS.md (a run without it leaves the published plot alone; `--plot PATH`
puts its plot elsewhere).

**Paired test**: the means hide how noisy one search on few labels is, so proposals are also
compared with random and with even frames cell by cell (query, seed, count past the shared cold
start; every count with `--start own`): how often their test FN is lower, equal, higher, the mean difference, and a Wilcoxon
signed-rank p. (Without `--even-phase`, even frames do not depend on the seed past the cold start,
so their cells of one query and count are one labelled set searched once per seed.) A last line pairs the picks' test AUC
the same way, threshold-free: where a threshold set on a few validation labels lands on test can
decide the FN judge, whichever frames trained the head (BENCHMARKS.md).

**Spread of the ratio**: "labels to reach" turns on means over a few seeds, so the table also
redraws the seeds with replacement (the same draw for proposals, random frames and the reference)
and gives the ratio's median, its 5-95 % range and the share of draws in which it is at most a
third. Random frames that do not reach the reference by the last count count as reaching it there,
proposals that do not as never: the spread errs against label-next. A draw where neither reaches
it has no ratio and does not hold the goal.

**Fixed input** (a second, less noisy judge of the same labelled sets): the every-label search's
pick (its input, head, hyperparameters and seed) trained again on each method's labels and
thresholded on its labelled validation frames, as the search would. A 16-trial search on few
labels lands on a different crop each time, and on far-band the crops of one layer range from
0.040 to 0.338 in test FN even with every label; with the input fixed, what is left is what the
labels are worth to one head and its threshold.

**`--gaps`** splits each pick's shortfall in two (one more head training per search): the best
of its search's trials by test FN (at test FP within the target + 0.03), which says what a perfect
choice among the trials would give, and the pick's head thresholded on every validation label,
which says what a perfect estimate of its threshold would give. What neither explains is the
heads themselves: what the training labels are worth.

**`--start own`**: random and evenly spaced frames start from their own first frames (random /
evenly spaced, plus random ones until each block holds both classes) instead of label-next's cold
start. The shared start compares what each method adds after the same seed set; `own` compares
labelling with label-next from scratch against labelling without it, so what the cold start is
worth counts too. Proposals are the same in both (a log of either serves with `--from-log`; give
`--start own` there too, so the paired lines include the first count).

**`--batch N`**: label-next's frames are revealed at most N at a time, with a search on the
labels so far before each batch (the searches between two counts are not judged): how label-next
does when its user labels small batches and searches between them, rather than doubling the
labelled set at once.

`--from-log` rebuilds the tables and the plot from the printed output of earlier runs (the bench
is deterministic for a seed), so a long run can be split by query and merged; the rates it reads,
printed to 3 decimals, are snapped back to their exact fractions of the test block, so its tables
are the run's own. Logs of the published runs
are kept in bench/logs/label_efficiency/. `--methods proposals`
runs label-next's frames alone: random and evenly spaced frames depend on label-next only through
the shared cold start, so a change to its later batches needs only proposals run again.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from common import ROOT, can_search, revealed, write_section  # noqa: E402
from query_suite import queries  # noqa: E402

from autocrop.config import Config, load_config  # noqa: E402
from autocrop.dataset import QueryData, prepare  # noqa: E402
from autocrop.evaluation import Evaluator, baseline_layer  # noqa: E402
from autocrop.label_next import next_batch  # noqa: E402
from autocrop.records import TrialRecord  # noqa: E402
from autocrop.search import run_search  # noqa: E402
from autocrop.selection import best_of  # noqa: E402
from autocrop.space import load_space  # noqa: E402
from autocrop.study import trial_records  # noqa: E402
from autocrop.timegrid import time_order  # noqa: E402

METHODS = ("proposals", "random", "even")
DEFAULT_COUNTS = "24,48,96,192,384"  # --counts when neither it nor a log names them
FN_TOL, FP_SLACK = 0.02, 0.03
GAP_KEYS = ("best_fn", "best_fp", "allval_fn", "allval_fp")


class Sim:
    """One query: the full labels, a search on any subset of them, and its pick's test rates."""

    def __init__(self, path: Path, trials: int, tmp: Path, val_all: bool = False):
        self.cfg = load_config(path, ["search.max_steps=200"])
        self.space = load_space(self.cfg.search.space)
        self.space.heads = {k: v for k, v in self.space.heads.items() if k in ("logistic", "svm")}
        self.full = prepare(self.cfg)
        self.full.store.extract([*self.space.layers, baseline_layer(self.full)], progress=False)
        self.trials, self.tmp, self.runs = trials, tmp, 0
        self.pick: TrialRecord | None = None  # the last search's pick
        # the frames a method may pick; with val_all the validation block is labelled from the start
        self.pickable = np.sort(self.full.splits["train"] if val_all else np.r_[self.full.splits["train"], self.full.splits["val"]])
        self.fixed = np.r_[self.full.splits["test"], self.full.splits["val"] if val_all else []].astype(int)

    def data(self, known: np.ndarray) -> QueryData:
        return revealed(self.full, known, self.fixed)

    def search(self, data: QueryData) -> tuple[str, dict]:
        self.runs += 1
        name = f"{self.cfg.name}-{self.runs}"
        data.cfg.search.storage = str(self.tmp / f"{name}.journal")
        study = run_search(data.cfg, data, self.space, self.trials, self.space.sampler, name, tracker=None, progress=False)
        op = data.cfg.search.operating_point
        self.records = trial_records(study)
        pick = self.pick = best_of(self.records, op.target, op.rule)
        return name, {"test_fn": pick.test_fn, "test_fp": pick.test_fp, "val_fn": pick.val_fn, "test_auc": pick.metrics["test_auc"],
                      "labels": data.labelled - len(self.fixed)}

    def refit(self, data: QueryData, ref: TrialRecord) -> dict:
        """The every-label pick `ref` trained again on `data`'s labels: its test rates at its validation threshold."""
        m = Evaluator(data, data.cfg).retrain_all([ref])[0].record.metrics
        return {"fixed_fn": m["test_fn"], "fixed_fp": m["test_fp"]}

    def gaps(self, data: QueryData) -> dict:
        """Where the last pick's test FN falls short (`--gaps`): **best trial**, the lowest test FN
        among the same search's trials with test FP within the target + slack (a perfect choice
        among them); **every-val threshold**, the pick's head as trained on `data` but thresholded
        on every validation label (a perfect threshold estimate for that head)."""
        import torch

        from autocrop.metrics import choose_threshold, rates

        op, pick = self.cfg.search.operating_point, self.pick
        assert pick is not None
        ok = [r for r in self.records if r.test_fp <= op.target + FP_SLACK] or self.records
        best = min(ok, key=lambda r: (r.test_fn, r.test_fp))
        head = Evaluator(data, data.cfg).retrain_all([pick])[0].head
        val, test = self.full.splits["val"], self.full.splits["test"]
        with torch.no_grad():
            s = {k: head(torch.from_numpy(pick.input.gather_windows(self.full.store, rows))[None])[0].numpy() for k, rows in (("val", val), ("test", test))}
        blocks = self.full.blocks["val"] if op.per_block and self.full.blocks else None
        thr = choose_threshold(s["val"], self.full.y[val], op.rule, op.target, blocks, op.reserve)
        fp, fn = rates(self.full.y[test], (s["test"] >= thr).astype(int))
        return {"best_fn": best.test_fn, "best_fp": best.test_fp, "allval_fn": fn, "allval_fp": fp}

    def evenly(self, count: int, phase: float | None = None) -> np.ndarray:
        """`count` pickable frames evenly spaced in time: from the first pickable frame to the last
        (no `phase`), or one every n / count of them from `phase` (0 to 1) of a step on."""
        n = len(self.pickable)
        pos = np.linspace(0, n - 1, count).round() if phase is None else np.floor((np.arange(count) + phase) * n / count)
        return self.pickable[np.unique(pos.astype(int))]

    def nested(self, count: int, seed: int) -> np.ndarray:
        """The first `count` pickable frames of the seed's nested time order: grow-only, evenly spaced."""
        return self.pickable[np.sort(time_order(len(self.pickable), seed)[:count])]

    def until_trainable(self, rows: np.ndarray, rng: np.random.Generator, seed: int | None = None) -> np.ndarray:
        """`rows` with frames added, 4 at a time, until every block can train and threshold a head
        (when a first batch lacks a class): label-next's next batch with `seed` (it seeks the class
        a split lacks), random pickable frames without (what a user without label-next does)."""
        while not self.trainable(rows):
            new = ([p.row for p in next_batch(self.data(rows), 4, "", seed, progress=False).proposals] if seed is not None
                   else rng.choice(np.setdiff1d(self.pickable, rows), 4, replace=False))
            rows = np.r_[rows, new].astype(int)
        return rows

    def trainable(self, known: np.ndarray) -> bool:
        return can_search(self.data(known))


def run_query(sim: Sim, counts: list[int], seed: int, ref: TrialRecord, methods: tuple[str, ...] = METHODS,
              gaps: bool = False, batch: int = 0, own_start: bool = False, even_phase: bool = False,
              even_nested: bool = False) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    phase = np.random.default_rng([seed, 1]).random() if even_phase else None  # its own stream: random frames stay as they were

    def evenly(count: int) -> np.ndarray:  # the even method's labelled set at a count
        return sim.nested(count, seed) if even_nested else sim.evenly(count, phase)

    sim.cfg.search.seed = seed
    cold = next_batch(sim.data(np.array([], int)), counts[0], "", seed, cold=True, progress=False)
    start = sim.until_trainable(np.array([p.row for p in cold.proposals]), rng, seed)  # rare: it lacks a class in a block
    starts = {m: start for m in methods}
    if own_start:  # each method from its own first frames, as a user without label-next would start
        starts["random"] = sim.until_trainable(rng.choice(sim.pickable, counts[0], replace=False), rng)
        starts["even"] = sim.until_trainable(evenly(counts[0]), rng)
    out: dict[str, list[dict]] = {m: [] for m in methods}
    known = {m: starts[m].copy() for m in methods}
    last: dict[str, tuple[np.ndarray, str, str, dict]] = {}  # per method: the labelled rows searched last, its study, storage and result
    for i, count in enumerate(counts):
        for m in methods:
            if m == "even" and i > 0:
                known[m] = evenly(count)
                if not sim.trainable(known[m]):
                    known[m] = np.union1d(known[m], starts[m])
            data = sim.data(known[m])
            t = time.perf_counter()
            again = m in last and np.array_equal(last[m][0], known[m])  # a start topped up past this count: searched already
            if again:  # the same set searched again would give the same result: reuse it (and its study, for label-next)
                study, r = last[m][1], dict(last[m][3])
                data.cfg.search.storage = last[m][2]
            else:
                study, r = sim.search(data)
                r |= sim.refit(data, ref)
                if gaps:
                    r |= sim.gaps(data)
                last[m] = (known[m].copy(), study, data.cfg.search.storage, dict(r))
            out[m].append(r)
            print(f"{sim.cfg.name:>16} seed {seed} {m:>9} {r['labels']:>4} labels: test FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} AUC {r['test_auc']:.4f} "
                  f"fixed input FN {r['fixed_fn']:.3f} FP {r['fixed_fp']:.3f} ({time.perf_counter() - t:.0f} s{', the labelled set of the count before' * again})", flush=True)
            if gaps:
                print(f"{sim.cfg.name:>16} seed {seed} {m:>9} {r['labels']:>4} gaps: best trial FN {r['best_fn']:.3f} FP {r['best_fp']:.3f} "
                      f"every-val threshold FN {r['allval_fn']:.3f} FP {r['allval_fp']:.3f}", flush=True)
            if i + 1 == len(counts):
                continue
            more = counts[i + 1] - len(known[m])
            if m == "proposals":
                while more > 0:
                    step = next_batch(data, min(more, batch or more), study, seed, progress=False)
                    known[m] = np.union1d(known[m], [p.row for p in step.proposals])
                    more = counts[i + 1] - len(known[m])
                    if not batch or not step.proposals or more <= 0:
                        break
                    data = sim.data(known[m])  # a search on the labels so far before the next batch
                    study = sim.search(data)[0]
            elif m == "random" and more > 0:  # a start made trainable can hold more than the next count already
                known[m] = np.union1d(known[m], rng.choice(np.setdiff1d(sim.pickable, known[m]), more, replace=False))
    return out


def mean_curve(runs: list[list[dict]]) -> list[dict]:
    """Per label count, the mean over seeds of test FN, FP and AUC (and the mean label count)."""
    keys = ("test_fn", "test_fp", "test_auc", "fixed_fn", "fixed_fp", "labels")
    keys += GAP_KEYS if all(k in r for run in runs for r in run for k in GAP_KEYS) else ()
    return [{k: float(np.mean([run[i][k] for run in runs])) for k in keys} for i in range(len(runs[0]))]


def reached(curve: list[dict], ref: dict, target: float, judge: str = "test") -> int | None:
    """The first label count from which on the curve stays at the reference (judged by the search's
    pick, "test", or by the fixed input, "fixed")."""
    ok = [r[f"{judge}_fn"] <= ref["test_fn"] + FN_TOL and r[f"{judge}_fp"] <= target + FP_SLACK for r in curve]
    for i in range(len(curve)):
        if all(ok[i:]):
            return int(round(curve[i]["labels"]))
    return None


def ratio_spread(runs: dict[str, list[list[dict]]], fulls: list[dict], target: float, judge: str = "test",
                 n: int = 2000, seed: int = 0) -> str:
    """Labels to reach the reference, proposals / random, with the seeds resampled (with replacement,
    the same draw for both methods and the reference) `n` times: median, 5-95 % range, and the share
    of draws in which the goal (at most a third) holds. A method that does not reach it by the last
    count counts as reaching it there (random) or never (proposals), so the spread errs against
    label-next; draws where neither reaches it have no ratio (and do not hold the goal)."""
    rng = np.random.default_rng(seed)
    k, ratios = len(fulls), []
    for _ in range(n):
        idx = rng.integers(0, k, k)
        ref = {key: float(np.mean([fulls[i][key] for i in idx])) for key in ("test_fn", "test_fp", "labels")}
        curves = {m: mean_curve([runs[m][i] for i in idx]) for m in ("proposals", "random")}
        p, r = (reached(curves[m], ref, target, judge) for m in ("proposals", "random"))
        if p or r:
            ratios.append(np.inf if not p else p / (r or curves["random"][-1]["labels"]))
    if not ratios:
        return "-"
    lo, mid, hi = np.percentile(ratios, [5, 50, 95], method="nearest")
    held = np.sum(np.array(ratios) <= 1 / 3 + 1e-9) / n  # a draw where neither reaches it: not held
    some = f" (a ratio in {len(ratios)} of {n} draws)" if len(ratios) < n else ""
    return f"{mid:.2f} [{lo:.2f}-{hi:.2f}], {held:.0%}{some}"


def _same(curve: list[dict], i: int) -> bool:
    """Whether count i holds the labelled set of count i - 1: a start topped up until a search can
    run can hold more labels than the next count already (often from 12 frames), and the set only
    grows, so the same label count is the same set (`run_query` reuses that search's result). A
    cell where both methods did so repeats the one before, and `paired` counts it once."""
    return curve[i]["labels"] == curve[i - 1]["labels"]


def paired(per_query: dict[str, dict[str, list[list[dict]]]], judge: str = "test", other: str = "random", first: int = 1) -> str:
    """Proposals against `other`, seed by seed and count by count (from the count `first`: past the shared cold start by default):
    in how many of those cells proposals' test FN is lower, equal, higher; the mean difference (and
    test FP's, since a looser threshold buys FN with FP); and a Wilcoxon signed-rank test's p on
    the FN differences (two-sided; ties dropped). One search on few labels is
    noisy, so this says more than a curve of means does about whether a difference is real.
    judge `auc`: the search's pick's test AUC instead, higher is better (threshold-free: whether
    a method's labels train heads that rank the test frames better, wherever a threshold set on a
    few validation labels falls). A cell that repeats the one before for both methods (`_same`) is
    left out."""
    from scipy.stats import wilcoxon

    pairs = [(pa[i], pb[i]) for runs in per_query.values() for pa, pb in zip(runs["proposals"], runs[other], strict=True)
             for i in range(first, len(pa)) if not (i and _same(pa, i) and _same(pb, i))]
    key = "test_auc" if judge == "auc" else f"{judge}_fn"
    d = np.array([a[key] - b[key] for a, b in pairs])
    lower, equal = int((d < -1e-9).sum()), int((np.abs(d) <= 1e-9).sum())
    p = wilcoxon(d[np.abs(d) > 1e-9]).pvalue if len(d) - equal > 0 else float("nan")
    cells = f"of {len(d)} (query, seed, count) cells"
    if judge == "auc":
        return (f"proposals vs {other} (search, threshold-free): test AUC higher in {len(d) - lower - equal}, equal in {equal}, "
                f"lower in {lower} {cells}; mean difference {d.mean():+.4f}; Wilcoxon p = {p:.2g}")
    d_fp = np.array([a[f"{judge}_fp"] - b[f"{judge}_fp"] for a, b in pairs])
    return (f"proposals vs {other} ({'search' if judge == 'test' else 'fixed input'}): test FN lower in {lower}, equal in {equal}, "
            f"higher in {len(d) - lower - equal} {cells}; mean difference {d.mean():+.3f} "
            f"(test FP: {d_fp.mean():+.3f}); Wilcoxon p = {p:.2g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="car,right-near,far-band", help="query names (file stems of the suite)")
    ap.add_argument("--counts", help=f"label counts (train + validation) to stop at (default {DEFAULT_COUNTS}; with --from-log, "
                                     "every count the logs' runs stopped at)")
    ap.add_argument("--trials", type=int, default=24, help="search budget per label count")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 (to add seeds to an earlier run, merged with --from-log)")
    ap.add_argument("--val", choices=("share", "all"), default="share",
                    help="share: methods pick validation frames too (counts are train + validation labels); "
                         "all: the validation block is labelled from the start and counts are training labels")
    ap.add_argument("--from-log", nargs="+", type=Path, metavar="LOG",
                    help="no runs: the tables and plot from the printed output of earlier runs "
                         "(their queries, seeds and counts, whatever --only and --seeds say; the bench is deterministic for a seed)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="the methods to run (random and even frames do not depend on label-next past its cold start: "
                         "a change to label-next's later batches needs only proposals run again; the tables then show what was run)")
    ap.add_argument("--gaps", action="store_true",
                    help="also split each pick's shortfall: the best of its search's trials by test FN, and its head thresholded "
                         "on every validation label (one more head training per search)")
    ap.add_argument("--batch", type=int, default=0, metavar="N",
                    help="label-next's frames revealed at most N at a time, a search before each batch (default: all at once)")
    ap.add_argument("--start", choices=("shared", "own"), default="shared",
                    help="shared: every method starts from label-next's cold start (compares what comes after it); "
                         "own: random and even frames start from random / evenly spaced frames (label-next from scratch "
                         "against labelling without it)")
    ap.add_argument("--even-phase", action="store_true",
                    help="shift evenly spaced frames' grid by a phase drawn per seed (by default every seed labels the same "
                         "evenly spaced frames: one draw, counted once per seed)")
    ap.add_argument("--even-nested", action="store_true",
                    help="evenly spaced frames that only grow from count to count (a nested order per seed, as a user "
                         "labelling batch by batch can), instead of a new grid at each count")
    ap.add_argument("--write", type=Path, help="write the tables into this markdown file and the plot into docs/")
    ap.add_argument("--plot", type=Path, help="without --write: save the plot here (by default a run writes no plot)")
    args = ap.parse_args()
    if args.even_phase and args.even_nested:
        ap.error("--even-phase and --even-nested: choose one (a nested order has a phase per seed already)")
    if bad := set(args.methods.split(",")) - set(METHODS):
        ap.error(f"--methods {args.methods}: unknown {', '.join(sorted(bad))}; choose from {', '.join(METHODS)}")
    logs = read_logs(args.from_log) if args.from_log else None  # read once: a `<(grep ...)` pipe can be read only once
    args.counts = args.counts or (log_counts(logs) if logs else DEFAULT_COUNTS)
    runs, fulls, targets = from_logs(logs) if logs else measure(args)
    report(runs, fulls, targets, args)


def measure(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Per query: each method's curve per seed, the every-label runs, the FP target."""
    counts = [int(c) for c in args.counts.split(",")]
    paths = [p for p in queries() if p.stem in args.only.split(",")]
    per_query, fulls, targets = {}, {}, {}
    methods = tuple(m for m in METHODS if m in args.methods.split(","))
    print(f"# label_efficiency: counts {counts}, {args.trials} trials, --val {args.val}, --start {args.start}, methods {', '.join(methods)}"
          + (", even phase per seed" if args.even_phase else "") + (", even nested per seed" if args.even_nested else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            sim = Sim(path, args.trials, Path(tmp), args.val == "all")
            q = sim.cfg.name
            full, runs = [], {m: [] for m in methods}
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                sim.cfg.search.seed = seed
                full.append(sim.search(sim.data(sim.pickable))[1])
                ref = sim.pick
                assert ref is not None
                print(f"{q:>16} seed {seed} every label ({full[-1]['labels']}): test FN {full[-1]['test_fn']:.3f} "
                      f"FP {full[-1]['test_fp']:.3f}; its pick: trial {ref.number}, {ref.input.layer} {ref.head}", flush=True)
                for m, curve in run_query(sim, counts, seed, ref, methods, args.gaps, args.batch, args.start == "own",
                                          args.even_phase, args.even_nested).items():
                    runs[m].append(curve)
            per_query[q], fulls[q], targets[q] = runs, full, sim.cfg.search.operating_point.target
    return per_query, fulls, targets


Logs = list[Path] | dict[Path, str]  # log files, or their texts by name (`read_logs`)


def read_logs(logs: Logs) -> dict[Path, str]:
    """Each log's text by the name given, read once; one file named twice (overlapping globs) is
    read once, under its first name (opened by that name: a /dev/fd pipe resolves to no file)."""
    if isinstance(logs, dict):
        return logs
    unique: dict[Path, Path] = {}
    for p in logs:
        unique.setdefault(p.resolve(), p)
    return {p: p.read_text() for p in unique.values()}


def log_counts(logs: Logs) -> str:
    """Every label count the runs of these logs stopped at (their header lines), as --counts. Logs
    printed before the bench wrote that line name no counts: their runs used the default, which
    is then assumed, with a note."""
    head = re.compile(r"# label_efficiency: counts \[([\d, ]+)\]")
    counts, bare = set(), []
    for log, text in read_logs(logs).items():
        found = [m for m in map(head.match, text.splitlines()) if m]
        counts |= {int(c) for m in found for c in m[1].split(",")}
        bare += [] if found else [str(log)]
    if bare:
        print(f"--from-log: {', '.join(bare)} name(s) no counts (no `# label_efficiency: counts [...]` line); assuming "
              f"{DEFAULT_COUNTS} for them: pass --counts if their runs stopped elsewhere", file=sys.stderr)
        counts |= {int(c) for c in DEFAULT_COUNTS.split(",")}
    return ",".join(map(str, sorted(counts)))


def from_logs(logs: Logs) -> tuple[dict, dict, dict]:
    """`measure`'s results from the lines it printed."""
    run = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\d+) labels: test FN ([\d.]+) FP ([\d.]+) AUC ([\d.]+) fixed input FN ([\d.]+) FP ([\d.]+)")
    every = re.compile(r"\s*(\S+) seed (\d+) every label \((\d+)\): test FN ([\d.]+) FP ([\d.]+)")
    gap = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+\d+ gaps: best trial FN ([\d.]+) FP ([\d.]+) every-val threshold FN ([\d.]+) FP ([\d.]+)")
    seeds: dict[str, dict[str, dict[int, list[dict]]]] = {}
    fulls: dict[str, dict[int, dict]] = {}
    source: dict[tuple[str, str, int], Path] = {}  # (query, method, seed) -> the log that holds its curve
    for log, text in read_logs(logs).items():
        for line in text.splitlines():
            if m := run.match(line):
                q, s, meth, *v = m.groups()
                if source.setdefault((q, meth, int(s)), log) != log:  # two runs' lines would merge into one curve
                    print(f"--from-log: {q} {meth} seed {s} is in both {source[q, meth, int(s)]} and {log}; "
                          "merge logs of one run each (e.g. leave out the --even-phase log when merging fixed-grid ones)", file=sys.stderr)
                    sys.exit(2)
                keys = ("labels", "test_fn", "test_fp", "test_auc", "fixed_fn", "fixed_fp")
                seeds.setdefault(q, {}).setdefault(meth, {}).setdefault(int(s), []).append(dict(zip(keys, map(float, v), strict=True)))
            elif m := gap.match(line):  # belongs to the run line just before it
                q, s, meth, *v = m.groups()
                seeds[q][meth][int(s)][-1] |= dict(zip(GAP_KEYS, map(float, v), strict=True))
            elif m := every.match(line):
                q, s, lab, fn, fp = m.groups()
                fulls.setdefault(q, {})[int(s)] = {"labels": int(lab), "test_fn": float(fn), "test_fp": float(fp)}
    per_query, every_label = {}, {}
    for q, v in seeds.items():  # a seed of a run cut short (every method's curve to the last count, or none of it)
        n = max(len(c) for by_seed in v.values() for c in by_seed.values())
        done = sorted(set.intersection(*({s for s, c in by_seed.items() if len(c) == n} for by_seed in v.values())))
        if cut := sorted({s for by_seed in v.values() for s in by_seed} - set(done)):
            print(f"{q}: seed(s) {cut} left out, cut short in the log", file=sys.stderr)
        per_query[q] = {m: [by_seed[s] for s in done] for m, by_seed in v.items()}
        every_label[q] = [fulls[q][s] for s in done]
    cfgs = {cfg.name: cfg for cfg in map(load_config, queries())}
    for q in per_query:
        _exact(cfgs[q], [r for runs in per_query[q].values() for run in runs for r in run] + every_label[q])
    return per_query, every_label, {q: cfgs[q].search.operating_point.target for q in seeds}


def _exact(cfg: Config, results: list[dict]) -> None:
    """A log's rates, printed to 3 decimals, back to the exact fractions they were: every rate is
    over the fully labelled test block, so an FN rate is k / its positives and an FP rate k / its
    negatives (at most a few hundred: 3 decimals name one fraction). Without this, a mean of
    rounded rates decided "labels to reach" differently from the run that printed them (random
    frames on car-left-near: 128 labels from the log, 192 in the run; BENCHMARKS.md)."""
    data = prepare(cfg, need_trainable=False)
    y = data.y[data.splits["test"]]
    n = {"fn": int(y.sum()), "fp": int((y == 0).sum())}
    if max(n.values()) >= 1000:  # 3 decimals no longer name one fraction: the rates stay as printed
        return
    for r in results:
        for k, v in r.items():
            if k.endswith(("_fn", "_fp")):
                r[k] = round(v * n[k[-2:]]) / n[k[-2:]]


def report(per_query: dict, fulls: dict, targets: dict, args: argparse.Namespace) -> None:
    """The tables to stdout; with --write, them into BENCHMARKS.md and the plot into docs/ (or the plot to --plot)."""
    counts = [int(c) for c in args.counts.split(",")]
    methods = [m for m in METHODS if all(m in runs for runs in per_query.values())]
    results = {q: {m: mean_curve(runs[m]) for m in methods} for q, runs in per_query.items()}
    refs = {q: {k: float(np.mean([f[k] for f in fulls[q]])) for k in ("test_fn", "test_fp", "labels")} for q in results}

    fig, axes = panels(len(results))
    for ax, (q, curves) in zip(axes.flat, results.items(), strict=False):
        for m, curve in curves.items():
            ax.plot([r["labels"] for r in curve], [r["test_fn"] for r in curve], "o-", label=m, lw=2.5 if m == "proposals" else 1.2)
        ax.axhline(refs[q]["test_fn"], color="grey", ls="--", label=f"every label ({refs[q]['labels']:.0f})")
        ax.axhspan(0, refs[q]["test_fn"] + FN_TOL, color="grey", alpha=0.08)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{q} (mean of {len(fulls[q])} seeds)")
        ax.set_xlabel("labelled train + validation frames" if args.val == "share" else "labelled training frames (validation all labelled)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test FN at the operating point")
    axes[0, 0].legend()
    fig.tight_layout()
    png = "label_efficiency.png" if args.val == "share" else "label_efficiency_val_all.png"
    plot = ROOT / "docs" / png if args.write else args.plot
    if plot:
        fig.savefig(plot, dpi=100)
        print(f"plot: {plot}")

    spread = {"proposals", "random"} <= set(methods)
    lines = ["| query | every label: labels, test FN / FP | judge | " + " | ".join(f"{m}: labels to reach it" for m in methods) + " | proposals / random |"
             + (" seeds resampled: median [5-95 %], goal held |" if spread else ""),
             "|---|---|---|" + "---:|" * (len(methods) + 1 + spread)]
    for q, curves in results.items():
        for judge, name in (("test", "search"), ("fixed", "fixed input")):
            need = {m: reached(curves[m], refs[q], targets[q], judge) for m in methods}
            cell = {m: str(need[m]) if need[m] else f">{curves[m][-1]['labels']:.0f}" for m in methods}
            ratio = f"{need['proposals'] / need['random']:.2f}" if need.get("proposals") and need.get("random") else "-"
            lines.append(f"| {q} | {refs[q]['labels']:.0f}, {refs[q]['test_fn']:.3f} / {refs[q]['test_fp']:.3f} | {name} | "
                         + " | ".join(cell[m] for m in methods) + f" | {ratio} |"
                         + (f" {ratio_spread(per_query[q], fulls[q], targets[q], judge)} |" if spread else ""))
    n = sorted({len(f) for f in fulls.values()})
    n_seeds = f"{n[0]} seeds" if len(n) == 1 else f"{n[0]}-{n[-1]} seeds (as many as each query's logs hold)"
    curves_md = [*_per_count(results, counts, f"Mean test FN / FP of the search's pick over {n_seeds} per label count:",
                             lambda r: f"{r['test_fn']:.3f} / {r['test_fp']:.3f}"),
                 *_per_count(results, counts, "Fixed input (the every-label pick trained on each method's labels), mean test FN / FP:",
                             lambda r: f"{r['fixed_fn']:.3f} / {r['fixed_fp']:.3f}"),
                 *_per_count(results, counts, "Mean test AUC of the search's pick (threshold-free: how well its scores rank the test frames):",
                             lambda r: f"{r['test_auc']:.4f}")]
    if all(GAP_KEYS[0] in r for curves in results.values() for c in curves.values() for r in c):
        curves_md += _per_count(results, counts, "Where the shortfall is, mean test FN: the pick / the best of its search's trials (test FP <= target + "
                                f"{FP_SLACK}) / the pick's head thresholded on every validation label:",
                                lambda r: f"{r['test_fn']:.3f} / {r['best_fn']:.3f} / {r['allval_fn']:.3f}")
    tests = [paired(per_query, j, o, int(args.start == "shared")) for j in ("test", "fixed", "auc") for o in ("random", "even") if {"proposals", o} <= set(methods)]
    lines += ["", *[f"- {t}" for t in tests]]
    print("\n".join(lines + curves_md))
    if args.write:
        command = (f".venv/bin/python bench/label_efficiency.py --only {args.only} --counts {args.counts} --trials {args.trials} "
                   f"--seeds {args.seeds} --val {args.val} --start {args.start}")
        extra = ("\nA method reaches the reference at the first label count from which on its mean test FN stays <= the every-label "
                 f"mean + {FN_TOL} with mean test FP <= target + {FP_SLACK}. Search per count: the default sampler, {args.trials} trials, "
                 "linear heads. The last column redraws the seeds with replacement 2000 times (the same draw for every method and "
                 "the reference): the ratio's median and 5-95 % range, and how often it is at most a third (random not reaching "
                 "it by the last count counts as reaching it there, proposals not reaching it as never).\n" + "\n".join(curves_md) + f"\n\n![test FN vs labels](docs/{png})\n")
        title = ("## Label efficiency: label-next vs random vs evenly spaced" if args.val == "share"
                 else "## Label efficiency of the training picks alone (validation labelled)")
        write_section(ROOT / args.write, title, command, lines, extra)


def panels(n: int):
    """A figure of n panels sharing a y axis, three to a row (the spare ones hidden), and its axes."""
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _per_count(results: dict, counts: list[int], title: str, cell) -> list[str]:
    out = ["", title, "", "| query | method | " + " | ".join(str(c) for c in counts) + " |", "|---|---|" + "---|" * len(counts)]
    return out + [f"| {q} | {m} | " + " | ".join(cell(r) for r in curves[m]) + " |" for q, curves in results.items() for m in curves]


if __name__ == "__main__":
    main()
