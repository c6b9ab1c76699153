"""The search loop: ask Optuna for a batch of trials, train their heads together, tell each its result."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from tqdm import tqdm

from autocrop.config import Config
from autocrop.dataset import QueryData
from autocrop.defaults import WORKER_SEED_STRIDE
from autocrop.evaluation import Evaluator, Outcome, run_baselines
from autocrop.fingerprint import guard
from autocrop.plots import study_figures, trial_figures
from autocrop.records import TrialRecord
from autocrop.samplers import get_sampler
from autocrop.selection import best_of
from autocrop.space import SearchSpace, suggest
from autocrop.study import WORKER_ATTR, fail_stale, has_baselines, open_study, requeue_failed, store_baselines, tell_record, trial_records, worker_id
from autocrop.tracking import NullTracker

__all__ = ["run_search", "Spread"]

Spread = Callable[[optuna.Study, str, int, str], list[TrialRecord]]


def run_search(
    cfg: Config,
    data: QueryData,
    space: SearchSpace,
    trials: int,
    sampler_name: str,
    study_name: str,
    tracker: NullTracker | None = None,
    progress: bool = True,
    parent_run: str | None = None,
    spread: Spread | None = None,
    retry_failed: bool = False,
) -> optuna.Study:
    """Add `trials` trials to the study (resuming it if it exists), tracked by `tracker`.

    `spread(study, parent run, trials, description)` runs the trials elsewhere (`--workers`: in
    worker processes) once the baselines are stored. A worker gets its coordinator's `parent_run`:
    it logs its trials there and leaves the run's figures and status to the coordinator.
    """
    tracker = tracker or NullTracker()
    definition = get_sampler(sampler_name)
    context = definition.context(cfg, data, space) if definition.context else {}
    sampler_seed = cfg.search.seed + WORKER_SEED_STRIDE * cfg.search.worker  # workers sharing a study draw different crops
    study = open_study(cfg, study_name, definition.factory(sampler_seed, context))
    guard(study, data, space)  # the same footage, labels, split, backbone, space and operating point
    if retry_failed and (n := requeue_failed(study)):
        print(f"{study_name}: {n} failed trial(s) queued to run again first")
    if definition.propose and not study.trials:
        for params, attrs in definition.propose(data, space):
            study.enqueue_trial(params, user_attrs=attrs or None, skip_if_exists=not attrs)
    study.set_user_attr("config", str(cfg.source_path))
    ev = Evaluator(data, cfg)
    parent = parent_run if parent_run is not None else tracker.study_run(study_name, {"config": cfg.source_path, "space": space.source_path, "sampler": sampler_name,
                                            "backbone": cfg.backbone.model, "weights": data.backbone.weights_digest,
                                            "input_size": cfg.backbone.input_size, "frames": data.describe()})
    status = "FAILED"
    try:
        if not has_baselines(study):
            baselines = run_baselines(ev, space)
            store_baselines(study, baselines)
            for rec in baselines:
                tracker.log_record(parent, study_name, rec)
        desc = f"search {study_name} ({sampler_name})"
        if spread is not None:
            records = spread(study, parent, trials, desc)
        else:
            records = _loop(cfg, data, space, study, ev, tracker, parent, trials, desc, progress)
        if records and parent_run is None:
            op = cfg.search.operating_point
            best = best_of(records, op.target, op.rule)
            tracker.log_figures(parent, lambda: study_figures(study, data, op.target))
            tracker.log_metrics(parent, {f"best_{k}": v for k, v in _summary(best).items()} | {"n_trials": len(study.trials)})
        status = "FINISHED"
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM (cli.Terminated)
        status = "KILLED"
        raise
    finally:
        if parent_run is None:
            tracker.finish(parent, status)
    return study


def _loop(cfg: Config, data: QueryData, space: SearchSpace, study: optuna.Study, ev: Evaluator, tracker: NullTracker,
          parent: str, trials: int, desc: str, progress: bool) -> list[TrialRecord]:
    """Ask, train and tell `trials` trials in batches; returns every complete record of the study."""
    records = trial_records(study)  # read once; the loop appends what it tells
    op = cfg.search.operating_point
    with tqdm(total=trials, unit="trial", desc=desc, disable=not progress, dynamic_ncols=True) as bar:
        done = 0
        while done < trials:
            fail_stale(study)  # trials of workers that died since the last batch
            with warnings.catch_warnings():  # Optuna beats only inside `optimize`; `_heartbeat` beats here
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                asked = [study.ask() for _ in range(min(cfg.search.batch, trials - done))]
            try:
                with _heartbeat(study, asked):
                    jobs = [ev.job(suggest(t, space), t.number) for t in asked]
                    outcomes = ev.run(jobs, keep=tracker.active and cfg.tracking.trial_plots)
            except BaseException:  # an interrupted or broken batch is failed, never left RUNNING
                for t in asked:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                raise
            for trial, outcome in zip(asked, outcomes, strict=True):
                tell_record(study, trial, outcome.record, cfg)
                tracker.log_record(parent, study.study_name, outcome.record, _figures(outcome, ev, data))
                records.append(outcome.record)
            done += len(asked)
            bar.update(len(asked))
            best = best_of(records, op.target, op.rule)
            if best is not None:
                bar.set_postfix(best_val_fn=f"{best.val_fn:.3f}", val_fp=f"{best.val_fp:.3f}")
    return records


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trials: list[optuna.Trial]) -> Iterator[None]:
    """Beat for the asked trials while they train (Optuna beats only inside `optimize`), so a
    worker that dies leaves trials that other workers, or the next start, can mark FAILED."""
    store = study._storage
    for t in trials:
        store.set_trial_system_attr(t._trial_id, WORKER_ATTR, worker_id())
    if not isinstance(store, optuna.storages.RDBStorage) or store.get_heartbeat_interval() is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for t in trials:
                store.record_heartbeat(t._trial_id)
            if stop.wait(store.get_heartbeat_interval()):
                return

    beat_thread = threading.Thread(target=beat, name="autocrop-heartbeat", daemon=True)
    for t in trials:
        store.record_heartbeat(t._trial_id)
    beat_thread.start()
    try:
        yield
    finally:
        stop.set()
        beat_thread.join(timeout=5)


def _figures(outcome: Outcome, ev: Evaluator, data: QueryData) -> Any:
    if outcome.val_scores is None:
        return None
    return lambda: trial_figures(outcome.record, outcome.val_scores, ev.val_y, data)


def _summary(rec: TrialRecord | None) -> dict[str, float]:
    if rec is None:
        return {}
    return {"val_fp": rec.val_fp, "val_fn": rec.val_fn, "test_fp": rec.test_fp, "test_fn": rec.test_fn, "cost_madds": rec.cost_madds}
