"""Which search strategy finds good microclassifiers fastest? Hypervolume vs trials over the query suite.

    .venv/bin/python bench/search_strategies.py [--trials 100] [--seeds 1] [--only car,left-far] [--write BENCHMARKS.md]

Queries: the query suite (`conf/car.yaml` and every `bench/queries/*.yaml`, see query_suite.py).
Every sampler (the default `auto` included) searches each query with the same budget and seeds
over the default layers, crops and proposals (masks, two-layer inputs), with the linear heads
(logistic, svm) to keep the run short. Per sampler it prints the suite's mean hypervolume of
(log cost, val FP, val FN) after 25 and 100 trials (`plots.hypervolume`), the mean rank among
the samplers, the test FN of the pick made on validation at val FP <= 5 %, and the seconds per
query. Writes docs/search_strategies.png (mean hypervolume vs trials) and, with --write, the
summary and per-query tables into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from common import ROOT, write_section  # noqa: E402
from query_suite import queries  # noqa: E402

from autocrop.config import load_config  # noqa: E402
from autocrop.dataset import prepare  # noqa: E402
from autocrop.evaluation import baseline_layer  # noqa: E402
from autocrop.plots import hypervolume_history  # noqa: E402
from autocrop.samplers import SAMPLERS  # noqa: E402
from autocrop.search import run_search  # noqa: E402
from autocrop.selection import best_of  # noqa: E402
from autocrop.space import load_space  # noqa: E402
from autocrop.study import trial_records  # noqa: E402

MARKS = (25, 100)


def _at(history: list[float], m: int) -> float:
    return history[min(m, len(history)) - 1] if history else 0.0


def run(path: Path, samplers: list[str], trials: int, seeds: int, tmp: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for seed in range(seeds):
        cfg = load_config(path, [f"search.seed={seed}", "search.max_steps=200"])
        space = load_space(cfg.search.space)
        space.heads = {k: v for k, v in space.heads.items() if k in ("logistic", "svm")}
        data = prepare(cfg)
        data.store.extract([*space.layers, baseline_layer(data)], progress=False)
        op = cfg.search.operating_point
        for sampler in samplers:
            cfg.search.storage = str(tmp / f"{path.stem}-{sampler}-{seed}.journal")
            t = time.perf_counter()
            study = run_search(cfg, data, space, trials, sampler, f"{sampler}-{seed}", tracker=None, progress=False)
            recs = trial_records(study)
            pick = best_of(recs, op.target, op.rule)
            r = {"hv": hypervolume_history(recs), "seconds": time.perf_counter() - t, "val_fn": pick.val_fn,
                 "test_fn": pick.test_fn, "test_fp": pick.test_fp}
            out.setdefault(sampler, []).append(r)
            print(f"{cfg.name:>18} {sampler:>7} seed {seed}: hv@{MARKS[0]} {_at(r['hv'], MARKS[0]):.4f} hv@{trials} {_at(r['hv'], trials):.4f}"
                  f" pick val FN {pick.val_fn:.3f} test FP {pick.test_fp:.3f} FN {pick.test_fn:.3f} ({r['seconds']:.0f} s)", flush=True)
    return out


_LINE = re.compile(r"^\s*(\S+)\s+(\S+) seed (\d+): hv@25 ([\d.]+) hv@(\d+) ([\d.]+) pick val FN ([\d.]+) test FP ([\d.]+) FN ([\d.]+) \((\d+) s\)")


def from_log(path: Path, trials: int) -> dict[str, dict[str, list[dict]]]:
    """Results of the runs an earlier invocation printed (hypervolume only at 25 and `trials`)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for line in path.read_text().splitlines():
        m = _LINE.match(line)
        if m and int(m[5]) == trials:
            hv = [float(m[4])] * 25 + [float(m[6])] * (trials - 25)  # the two points the line holds
            out.setdefault(m[1], {}).setdefault(m[2], []).append(
                {"hv": hv, "seconds": float(m[10]), "val_fn": float(m[7]), "test_fp": float(m[8]), "test_fn": float(m[9]), "partial": True})
    complete = {q: r for q, r in out.items() if len(r) == max(len(v) for v in out.values())}
    return complete


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--only", help="comma-separated query names (file stems); default the whole suite")
    ap.add_argument("--write", type=Path, help="write the tables into this markdown file")
    ap.add_argument("--summarize", type=Path, metavar="LOG",
                    help="no search: rebuild the tables and plot from the per-run lines an earlier (e.g. interrupted) run printed")
    args = ap.parse_args()
    samplers = args.samplers.split(",")
    paths = [p for p in queries() if not args.only or p.stem in args.only.split(",")]
    marks = [m for m in MARKS if m <= args.trials] or [args.trials]
    if args.summarize:
        results = from_log(args.summarize, args.trials)
        samplers = [s for s in samplers if all(s in r for r in results.values())]
    else:
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                results[path.stem] = run(path, samplers, args.trials, args.seeds, Path(tmp))

    # per query and mark: the mean over seeds per sampler, then each sampler's rank among them
    def hv(q: str, s: str, m: int) -> float:
        return float(np.mean([_at(r["hv"], m) for r in results[q][s]]))

    ranks = {m: {s: [] for s in samplers} for m in marks}
    for q in results:
        for m in marks:
            order = sorted(samplers, key=lambda s: -hv(q, s, m))
            for i, s in enumerate(order):
                ranks[m][s].append(i + 1)
    lines = ["| sampler | " + " | ".join(f"suite HV @{m} (mean) | mean rank @{m}" for m in marks)
             + f" | pick's test FN @{args.trials} (median) | pick's test FP (median) | s per query |",
             "|---|" + "---:|---:|" * len(marks) + "---:|---:|---:|"]
    for s in samplers:
        runs = [r for q in results for r in results[q][s]]
        cells = " | ".join(f"{np.mean([hv(q, s, m) for q in results]):.4f} | {np.mean(ranks[m][s]):.1f}" for m in marks)
        lines.append(f"| {s} | {cells} | {statistics.median(r['test_fn'] for r in runs):.3f} | "
                     f"{statistics.median(r['test_fp'] for r in runs):.3f} | {statistics.median(r['seconds'] for r in runs):.0f} |")
    per_query = ["| query | " + " | ".join(f"{s} HV @{marks[0]} / @{marks[-1]}" for s in samplers) + " |", "|---|" + "---:|" * len(samplers)]
    for q in results:
        per_query.append(f"| {q} | " + " | ".join(f"{hv(q, s, marks[0]):.3f} / {hv(q, s, marks[-1]):.3f}" for s in samplers) + " |")
    print("\n".join(lines) + "\n\n" + "\n".join(per_query))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    if args.summarize:  # only two points per run: bars of the suite's mean at 25 and at the full budget
        x = np.arange(len(samplers))
        for j, m in enumerate(marks):
            ax.bar(x + (j - 0.5) * 0.4, [np.mean([hv(q, s, m) for q in results]) for s in samplers], 0.4, label=f"after {m} trials")
        ax.set_xticks(x, samplers)
        lo = min(np.mean([hv(q, s, marks[0]) for q in results]) for s in samplers)
        ax.set_ylim(lo - 0.05, None)
    for s in samplers if not args.summarize else []:
        curves = [np.array(r["hv"]) for q in results for r in results[q][s]]
        n = min(len(c) for c in curves)
        mean = np.mean([c[:n] for c in curves], axis=0)
        ax.plot(np.arange(1, n + 1), mean, label=s, lw=2.5 if s == "auto" else 1.2)
    ax.set_title(f"Query suite ({len(results)} queries, {args.seeds} seed(s)): mean hypervolume")
    ax.set_xlabel("sampler" if args.summarize else "trials")
    ax.set_ylabel("hypervolume of (log cost, val FP, val FN)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "search_strategies.png", dpi=100)

    if args.write:
        command = (f".venv/bin/python bench/search_strategies.py --trials {args.trials} --seeds {args.seeds}"
                   + (f" --only {args.only}" if args.only else "") + (f" --summarize {args.summarize.name}" if args.summarize else "")
                   + f" --write {args.write}")
        extra = (f"\n{len(results)} queries, {args.seeds} seed(s), linear heads (logistic, svm), the default layers, crops and "
                 "proposals; rank 1 is the best hypervolume on a query. The pick is `best_of` the trials on validation at "
                 "val FP <= 5 %.\n\n![hypervolume vs trials](docs/search_strategies.png)\n\nPer query (mean over seeds):\n\n"
                 + "\n".join(per_query) + "\n")
        write_section(ROOT / args.write, "## Search strategies (issue 3)", command, lines, extra)


if __name__ == "__main__":
    main()
