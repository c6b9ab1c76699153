"""`autocrop search --workers N`: N processes add trials to one study.

The process the user started is the coordinator: it has already extracted the features, checked
the study's fingerprint, computed the baselines once and opened the study's one MLflow parent
run. It then starts N worker processes (`autocrop search ... --worker i --parent-run RUN`) on the
same storage (a journal file, or the configured database), each with its own sampler seed, its
share of the trials and of the CPU cores, shows one progress bar for all of them, and passes a
Ctrl-C or SIGTERM on. A worker that was killed leaves its trials RUNNING; they are failed here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import optuna
from tqdm import tqdm

from autocrop.config import Config
from autocrop.errors import Terminated, WorkersFailed
from autocrop.records import TrialRecord
from autocrop.search import Spread
from autocrop.selection import best_of
from autocrop.study import fail_stale, trial_records

__all__ = ["shares", "run_workers", "spreader"]

POLL_S = 1.0  # progress bar refresh
STOP_WAIT_S = 60.0  # after a signal, how long workers get to fail their batch and close their runs


def shares(trials: int, workers: int) -> list[int]:
    """`trials` split as evenly as possible; workers with no share are not started."""
    return [n for n in (trials // workers + (i < trials % workers) for i in range(workers)) if n]


def _threads(workers: int) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return str(max(1, cores // workers))


def run_workers(cfg: Config, study: optuna.Study, trials: int, workers: int, argv: Sequence[str], parent: str,
                desc: str, progress: bool) -> list[TrialRecord]:
    """Run `trials` trials in `workers` processes of `autocrop search <argv>`; every complete record."""
    complete = optuna.trial.TrialState.COMPLETE
    start = len(study.get_trials(deepcopy=False, states=(complete,)))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", _threads(workers))}
    procs = []
    for i, n in enumerate(shares(trials, workers)):
        number = cfg.search.worker * workers + i  # distinct sampler seeds, also across machines
        cmd = [sys.executable, "-m", "autocrop.cli", "search", *argv, "--worker", str(number), "--trials", str(n),
               "--quiet", "--parent-run", parent or "-"]
        # their own session: a terminal's Ctrl-C reaches the coordinator only, which passes it on once
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, start_new_session=True))
    op = cfg.search.operating_point
    seen: set[int] = set()
    best: TrialRecord | None = None
    try:
        with tqdm(total=trials, unit="trial", desc=desc, disable=not progress, dynamic_ncols=True) as bar:
            while any(p.poll() is None for p in procs):
                time.sleep(POLL_S)
                done = study.get_trials(deepcopy=False, states=(complete,))
                new = [TrialRecord.from_attrs(t.user_attrs) for t in done if t.number not in seen]
                seen.update(t.number for t in done)
                bar.update(len(done) - start - bar.n)
                best = best_of([*new, *([best] if best else [])], op.target, op.rule)  # only the new records are read
                if best is not None:
                    bar.set_postfix(best_val_fn=f"{best.val_fn:.3f}", val_fp=f"{best.val_fp:.3f}")
    except KeyboardInterrupt as exc:
        _stop(procs, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        fail_stale(study)
        raise
    failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode != 0]
    fail_stale(study)
    if failed:
        raise WorkersFailed(", ".join(f"worker {i} exited with code {rc}" for i, rc in failed) +
                            "; see the worker's error above; finished trials are kept, run the search again to add the rest")
    return trial_records(study)


def spreader(cfg: Config, config: str, overrides: Sequence[str], study_name: str, sampler: str, tracked: bool,
             workers: int, progress: bool) -> Spread:
    """What `run_search` calls to run its trials in `workers` processes of this config."""
    from autocrop.study import storage_url

    argv = [config, *(x for o in overrides for x in ("--set", o)), "--study", study_name,
            "--storage", storage_url(cfg), "--sampler", sampler, *([] if tracked else ["--no-mlflow"])]

    def spread(study: optuna.Study, parent: str, trials: int, desc: str) -> list[TrialRecord]:
        return run_workers(cfg, study, trials, workers, argv, parent, desc, progress)

    return spread


def _stop(procs: list[subprocess.Popen], sig: int) -> None:
    """Pass the signal on, and kill the workers still there after `STOP_WAIT_S`."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    end = time.monotonic() + STOP_WAIT_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
