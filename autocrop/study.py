"""Study storage and its typed records: where trials live, how they are read back.

Reading a study needs neither Lightning nor MLflow: `report`, `select` and the plots import this.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna

from autocrop.config import Config
from autocrop.defaults import GRACE_S, HEARTBEAT_S, SCHEMA_RETRIES, TRIAL_SEED_STRIDE
from autocrop.errors import ConfigError, DataError
from autocrop.records import TrialRecord

__all__ = ["OBJECTIVES", "WORKER_ATTR", "worker_id", "storage_url", "storage", "requeue_failed", "RETRY_ATTR", "is_url", "peek", "JOURNAL_FILE", "fail_stale", "counts", "open_study", "load_existing", "trial_records", "baseline_records",
           "all_records", "pareto_numbers", "find_record", "trial_seed", "store_baselines", "has_baselines", "tell_record"]

OBJECTIVES = ("cost_madds", "val_fp", "val_fn")
_BASELINES = "baselines"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url(cfg: Config) -> str:
    """Where studies live: `search.storage` (a database URL such as postgresql://user@host/db for
    workers on many machines, or a journal file path), else a journal file beside the MLflow store
    (`optuna.journal`: safe for several processes of one machine). A project whose studies are in
    the SQLite file of earlier versions (`optuna.db`) keeps using it."""
    if cfg.search.storage:
        return cfg.search.storage
    home = Path(cfg.tracking.dir)  # created with the journal, by `storage`
    legacy, journal = home.resolve() / "optuna.db", home.resolve() / JOURNAL_FILE
    return f"sqlite:///{legacy}" if legacy.is_file() and not journal.exists() else str(journal)


def is_url(where: str) -> bool:
    return "://" in where


def storage(cfg: Config) -> optuna.storages.BaseStorage:
    """The study storage. A database records heartbeats: trials of a worker that died (SIGKILL,
    power loss) stop beating, and after `GRACE_S` any worker's start-up or batch marks them FAILED.
    A journal file serves one machine's processes, whose dead workers `fail_stale` finds by pid."""
    where = storage_url(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if is_url(where):
            return _database(where)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            Path(where).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(where))
        except OSError as exc:
            raise ConfigError(f"search.storage {where}: cannot open the study journal ({exc.strerror}); "
                              "give a writable file path") from None
        except ValueError:
            raise DataError(f"{where}: damaged study journal (an unreadable record before the last); "
                            "restore it from a backup, or move it away to start afresh") from None


def _database(url: str) -> optuna.storages.RDBStorage:
    from sqlalchemy.exc import SQLAlchemyError

    error: Exception | None = None
    for attempt in range(SCHEMA_RETRIES):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        except SQLAlchemyError as exc:  # workers racing to create a fresh database's schema retry
            error = exc
            time.sleep(0.5 + 0.5 * attempt)
        except (ImportError, ValueError) as exc:  # no such driver, a malformed URL
            error = exc
            break
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise ConfigError(f"search.storage {url}: cannot open the study database ({reason}); "
                      "check the URL, its driver and that the server is running")


JOURNAL_FILE = "optuna.journal"
WORKER_ATTR = "autocrop:worker"  # "<host>:<pid>" of the process running a trial


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(worker: str | None) -> bool:
    """A worker of this machine whose process is gone (others are judged by their heartbeat)."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fail_stale(study: optuna.Study) -> int:
    """Mark FAILED the running trials of dead workers: at once for this machine's (their process is
    gone), after `GRACE_S` without a heartbeat for any machine's; how many there were."""
    before = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.system_attrs.get(WORKER_ATTR)
        orphan = worker is None and t.datetime_start is not None and (now - t.datetime_start).total_seconds() > GRACE_S
        if orphan or _dead_here(worker):  # orphan: its worker died between asking and claiming it
            try:
                study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            except RuntimeError:  # finished meanwhile
                pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))) - before


RETRY_ATTR = "autocrop:retry_of"  # user attribute of a trial enqueued again after its first try failed


def requeue_failed(study: optuna.Study) -> int:
    """Enqueue once more every failed trial that had drawn its parameters and was not retried
    before (its input overrides, a cell mask or extra layers, go with it); how many."""
    from autocrop.space import EXTRA_ATTR, MASK_ATTR

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs[RETRY_ATTR] for t in trials if RETRY_ATTR in t.user_attrs}
    n = 0
    for t in trials:
        if t.state == optuna.trial.TrialState.FAIL and t.params and t.number not in retried:
            attrs = {k: v for k, v in t.user_attrs.items() if k in (MASK_ATTR, EXTRA_ATTR)}
            study.enqueue_trial(t.params, user_attrs={**attrs, RETRY_ATTR: t.number})
            n += 1
    return n


def counts(study: optuna.Study) -> str:
    """'12 complete trials (2 failed, 1 running)': what "N trials" means."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = states.count(optuna.trial.TrialState.COMPLETE)
    other = [(states.count(s), w) for s, w in ((optuna.trial.TrialState.FAIL, "failed"), (optuna.trial.TrialState.RUNNING, "running")) if states.count(s)]
    return f"{done} complete trials" + (f" ({', '.join(f'{n} {w}' for n, w in other)})" if other else "")


def open_study(cfg: Config, name: str, sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    """Create the study or resume the one of the same name; fail the trials of dead workers."""
    from sqlalchemy.exc import DBAPIError

    store = storage(cfg)  # opening it retries a schema race already; creating the study may race too
    for attempt in range(SCHEMA_RETRIES):
        try:
            study = optuna.create_study(
                study_name=name, storage=store, sampler=sampler, directions=["minimize"] * 3, load_if_exists=True
            )
            break
        except DBAPIError:  # workers racing to create the same study: the loser retries
            if attempt == SCHEMA_RETRIES - 1:
                raise
            time.sleep(0.5 + attempt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    fail_stale(study)
    return study


def _existing(cfg: Config, create: bool = False) -> tuple[optuna.storages.BaseStorage | None, list[str]]:
    """The storage, opened once, and its studies' names; (None, []) while its journal file does not
    exist and `create` is off: reading creates nothing (a database storage gets its schema)."""
    where = storage_url(cfg)
    if not create and not is_url(where) and not Path(where).exists():
        return None, []
    store = storage(cfg)
    return store, optuna.study.get_all_study_names(store)


def peek(cfg: Config, name: str, create: bool = False) -> optuna.Study | None:
    """The study if it exists, else None. `create` (a search, which writes there) opens the storage
    even when it does not exist yet, so that a bad `search.storage` fails before any work."""
    store, names = _existing(cfg, create)
    return optuna.load_study(study_name=name, storage=store) if name in names else None


def load_existing(cfg: Config, name: str, where: str) -> optuna.Study:
    """An existing study, or one line naming the studies there (and nothing created)."""
    store, names = _existing(cfg)
    if name not in names:
        raise ConfigError(f"{where}: no study `{name}` in {storage_url(cfg)}; run `autocrop search` first "
                          f"(studies there: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=name, storage=store)


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """The record of every complete trial."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return [TrialRecord.from_attrs(t.user_attrs) for t in done]


def baseline_records(study: optuna.Study) -> list[TrialRecord]:
    return [TrialRecord.from_attrs(b) for b in study.user_attrs.get(_BASELINES, [])]


def store_baselines(study: optuna.Study, records: list[TrialRecord]) -> None:
    study.set_user_attr(_BASELINES, [r.to_attrs() for r in records])


def has_baselines(study: optuna.Study) -> bool:
    return _BASELINES in study.user_attrs


def all_records(study: optuna.Study) -> list[TrialRecord]:
    return trial_records(study) + baseline_records(study)


def pareto_numbers(study: optuna.Study) -> set[int]:
    return {t.number for t in study.best_trials}


def find_record(study: optuna.Study, number: int) -> TrialRecord:
    """A complete trial's record by number; negative numbers are the pooled baselines."""
    for rec in all_records(study):
        if rec.number == number:
            return rec
    raise ConfigError(f"study `{study.study_name}` has no complete trial {number}; see `autocrop report --all`")


def trial_seed(cfg: Config, number: int) -> int:
    """The training seed of trial `number` (baselines train with `search.seed`)."""
    return cfg.search.seed if number < 0 else cfg.search.seed * TRIAL_SEED_STRIDE + number


def tell_record(study: optuna.Study, trial: optuna.Trial, rec: TrialRecord, cfg: Config) -> None:
    """Store the record on its trial, its constraints, and tell Optuna its objectives."""
    for key, value in rec.to_attrs().items():
        trial.set_user_attr(key, value)
    limits = cfg.search.constraints
    if limits.max_fn is not None:
        trial.set_constraint("val_fn", rec.val_fn - limits.max_fn)
    if limits.max_fp is not None:
        trial.set_constraint("val_fp", rec.val_fp - limits.max_fp)
    values: list[Any] = [rec.cost_madds, rec.val_fp, rec.val_fn]
    study.tell(trial, values)
