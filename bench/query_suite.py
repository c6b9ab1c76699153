"""Does the default search beat the pooled baseline across many queries of one camera?

    .venv/bin/python bench/query_suite.py [--trials 40] [--seed 0] [--sampler auto] [--write BENCHMARKS.md]

Queries: the bundled `conf/car.yaml` and every `bench/queries/*.yaml` (lanes near and far, bands
across the road, small and large regions, different `min_fraction`, a rare event), all on the CDnet highway
footage, so they share one feature cache. Each gets the default search (the space's sampler
unless --sampler) with a fixed budget and seed, in a temporary study without MLflow.

Per query, both picks are made on validation at the operating point (val FP <= 5 %): the searched
pick (`best_of` the trials) and the pooled pick (`best_of` the pooled-final-layer baselines). They
are judged on test: a **win** is a lower test FN at a test FP no worse than the pooled pick's +
0.03. Also: whether the searched pick's test FP stays within the target + 0.03, and the
val-to-test FP gap. Prints the table and the win rate and median test-FN reduction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_section  # noqa: E402

from autocrop.config import load_config  # noqa: E402
from autocrop.dataset import prepare  # noqa: E402
from autocrop.evaluation import baseline_layer  # noqa: E402
from autocrop.search import run_search  # noqa: E402
from autocrop.selection import best_of  # noqa: E402
from autocrop.space import load_space  # noqa: E402
from autocrop.study import baseline_records, trial_records  # noqa: E402

SLACK = 0.03


def queries() -> list[Path]:
    return [ROOT / "conf" / "car.yaml", *sorted((ROOT / "bench" / "queries").glob("*.yaml"))]


def run_query(path: Path, trials: int, seed: int, sampler: str | None, tmp: Path, overrides: list[str]) -> dict:
    cfg = load_config(path, [f"search.seed={seed}", f"search.storage={tmp / (path.stem + '.journal')}", *overrides])
    space = load_space(cfg.search.space)
    data = prepare(cfg)
    data.store.extract([*space.layers, baseline_layer(data)], progress=False)
    name = sampler or cfg.search.sampler or space.sampler
    t0 = time.perf_counter()
    study = run_search(cfg, data, space, trials, name, cfg.study_name, tracker=None, progress=False)
    op = cfg.search.operating_point
    pick = best_of(trial_records(study), op.target, op.rule)
    pooled = best_of(baseline_records(study), op.target, op.rule)
    win = pick.test_fn < pooled.test_fn and pick.test_fp <= pooled.test_fp + SLACK
    return {"query": cfg.name, "pos": f"{(data.y == 1).sum() / data.labelled:.0%}", "pick": pick, "pooled": pooled, "win": win,
            "fp_ok": pick.test_fp <= op.target + SLACK, "target": op.target, "seconds": time.perf_counter() - t0, "sampler": name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sampler", help="override the space's sampler")
    ap.add_argument("--only", help="comma-separated query names (file stems)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="config override for every query")
    ap.add_argument("--write", type=Path, help="write the table into this markdown file")
    args = ap.parse_args()
    paths = [p for p in queries() if not args.only or p.stem in args.only.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            r = run_query(path, args.trials, args.seed, args.sampler, Path(tmp), args.overrides)
            p, b = r["pick"], r["pooled"]
            print(f"{r['query']:>20}: searched trial {p.number} {p.layer} {p.head} val FN {p.val_fn:.3f} test FP {p.test_fp:.3f} FN {p.test_fn:.3f}"
                  f" | pooled {b.head} val FN {b.val_fn:.3f} test FP {b.test_fp:.3f} FN {b.test_fn:.3f} | "
                  f"{'win' if r['win'] else 'LOSS'} ({r['seconds']:.0f} s)", flush=True)
            results.append(r)
    lines = ["| query | positives | searched pick (val) | MACs | val FP / FN | test FP / FN | pooled pick (val) | test FP / FN | win |",
             "|---|---:|---|---:|---|---|---|---|---|"]
    for r in results:
        p, b = r["pick"], r["pooled"]
        lines.append(f"| {r['query']} | {r['pos']} | trial {p.number}: {p.layer} {p.input.kind} {p.head} | {p.cost_madds:,} | "
                     f"{p.val_fp:.3f} / {p.val_fn:.3f} | {p.test_fp:.3f} / {p.test_fn:.3f} | {b.head} (val FN {b.val_fn:.3f}) | "
                     f"{b.test_fp:.3f} / {b.test_fn:.3f} | {'yes' if r['win'] else '**no**'} |")
    n = len(results)
    wins = sum(r["win"] for r in results)
    fp_ok = sum(r["fp_ok"] for r in results)
    red = statistics.median(r["pooled"].test_fn - r["pick"].test_fn for r in results)
    gap = statistics.median(abs(r["pick"].test_fp - r["pick"].val_fp) for r in results)
    summary = (f"\nSampler `{results[0]['sampler']}`, {args.trials} trials, seed {args.seed}"
               + "".join(f", `{o}`" for o in args.overrides) + ". Wins (lower test FN at test FP <= pooled's "
               f"+ {SLACK}): **{wins}/{n} ({wins / n:.0%})**; median test-FN reduction {red:+.3f}; searched pick's test FP within "
               f"target + {SLACK}: {fp_ok}/{n}; median |test FP - val FP| of the pick {gap:.3f}.\n")
    print("\n".join(lines) + summary)
    if args.write:
        title = "## Query suite: default search vs pooled baseline" + (f" ({', '.join(args.overrides)})" if args.overrides else "")
        command = f".venv/bin/python bench/query_suite.py --trials {args.trials} --seed {args.seed}" + "".join(f" --set {o}" for o in args.overrides)
        write_section(args.write, title, command, lines, summary)
    sys.exit(0)


if __name__ == "__main__":
    main()
