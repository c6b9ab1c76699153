"""Study storage and its typed records: where trials live, how they are read back.

Reading a study needs neither Lightning nor MLflow: `report`, `select` and the plots import this.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna

from autocrop.config import Config
from autocrop.defaults import SCHEMA_RETRIES, TRIAL_SEED_STRIDE
from autocrop.errors import ConfigError
from autocrop.records import TrialRecord

__all__ = ["OBJECTIVES", "storage_url", "open_study", "load_existing", "trial_records", "baseline_records",
           "all_records", "pareto_numbers", "find_record", "trial_seed", "store_baselines", "has_baselines", "tell_record"]

OBJECTIVES = ("cost_madds", "val_fp", "val_fn")
_BASELINES = "baselines"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url(cfg: Config) -> str:
    """The study storage: the config's URL (e.g. PostgreSQL), else SQLite beside the MLflow store."""
    if cfg.search.storage:
        return cfg.search.storage
    home = Path(cfg.tracking.dir)
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home.resolve()}/optuna.db"


def open_study(cfg: Config, name: str, sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    """Create the study or resume the one of the same name."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(SCHEMA_RETRIES):
        try:
            study = optuna.create_study(
                study_name=name, storage=storage_url(cfg), sampler=sampler, directions=["minimize"] * 3, load_if_exists=True
            )
            break
        except DBAPIError:  # workers racing to create a fresh database's schema: the loser retries
            if attempt == SCHEMA_RETRIES - 1:
                raise
            time.sleep(0.5 + attempt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    return study


def load_existing(cfg: Config, name: str, where: str) -> optuna.Study:
    """An existing study, or one line naming the studies there."""
    try:
        return optuna.load_study(study_name=name, storage=storage_url(cfg))
    except KeyError:
        names = optuna.study.get_all_study_names(storage_url(cfg))
        raise ConfigError(f"{where}: no study `{name}` in {storage_url(cfg)}; run `autocrop search` first "
                          f"(studies there: {', '.join(names) or 'none'})") from None


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
