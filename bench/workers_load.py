"""Search throughput with 1 and 2 worker processes (`autocrop search --workers N`) on this machine.

    .venv/bin/python bench/workers_load.py [--trials 24] [--rounds 2] [--write BENCHMARKS.md]

The bundled car query (its features cached once, outside the timing), a fresh study per run, no
MLflow. Trials/min is counted from the first trial's start to the last trial's end as the study
records them, so start-up and the baselines (computed once, before the workers start) are left
out; the whole command's wall time is shown too, and the part of it outside the trials (start-up,
data preparation, baselines, and for 2 workers the workers' own start-up). CPU use is the CPU seconds of the command and its
workers (`getrusage` of waited-for children) over wall seconds x cores: what bounds the speed-up.
Rounds interleave 1 and 2 workers so the machine's noise hits both alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, car_query, write_section  # noqa: E402

import optuna  # noqa: E402

from autocrop.study import JOURNAL_FILE  # noqa: E402


def run(trials: int, workers: int, home: Path, study: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "autocrop.cli", "search", str(ROOT / "conf" / "car.yaml"), "--quiet", "--no-mlflow",
           "--trials", str(trials), "--workers", str(workers), "--study", study, "--set", f"tracking.dir={home}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    storage = optuna.storages.journal.JournalStorage(optuna.storages.journal.JournalFileBackend(str(home / JOURNAL_FILE)))
    done = [t for t in optuna.load_study(study_name=study, storage=storage).trials if t.state.name == "COMPLETE"]
    assert len(done) == trials, f"{len(done)} of {trials} trials complete"
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return {"per_min": trials / span * 60, "wall": wall, "outside": wall - span, "cpu_share": cpu / wall / (os.cpu_count() or 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--write", type=Path, help="write the table into this markdown file")
    args = ap.parse_args()
    car_query()  # extract the features once, outside the timing
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for w in (1, 2) if r % 2 == 0 else (2, 1):
                res = run(args.trials, w, Path(tmp), f"load-w{w}-r{r}")
                results[w].append(res)
                print(f"round {r} workers {w}: {res['per_min']:.1f} trials/min, wall {res['wall']:.1f} s, CPU {res['cpu_share']:.0%}", flush=True)
    ratios = [b["per_min"] / a["per_min"] for a, b in zip(results[1], results[2], strict=True)]
    med = {w: {k: statistics.median(x[k] for x in v) for k in v[0]} for w, v in results.items()}
    lines = ["| workers | trials/min (median) | command wall s | of which outside the trials s | CPU used of 2 cores |", "|---|---|---|---|---|"]
    for w in (1, 2):
        lines.append(f"| {w} | {med[w]['per_min']:.1f} | {med[w]['wall']:.1f} | {med[w]['outside']:.1f} | {med[w]['cpu_share']:.0%} |")
    summary = (f"\n2 workers / 1 worker: {statistics.median(ratios):.2f}x trials/min "
               f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x), {args.trials} trials per run, {args.rounds} rounds.\n")
    summary += ("\nWhat limits it: one worker already trains a batch of trials in one Lightning run on both cores "
                f"(it uses {med[1]['cpu_share']:.0%} of the machine's CPU; the rest is serial Python between steps), so a "
                "second process on two cores mostly shares the same cores; it also repeats the start-up (imports, "
                "frame digest, labels) that the column outside the trials shows. Extra workers pay on machines with "
                "more cores than one worker's batch keeps busy, and across machines (PostgreSQL storage).\n")
    print("\n".join(lines) + summary)
    if args.write:
        write_section(args.write, "## Search workers: trials/min with 1 vs 2 processes",
                      f".venv/bin/python bench/workers_load.py --trials {args.trials} --rounds {args.rounds}", lines, summary)


if __name__ == "__main__":
    main()
