"""Release a trial: pick it by a rule, train its head again, write its bundle, register it in MLflow."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from autocrop.config import Config
from autocrop.dataset import QueryData, prepare
from autocrop.drift import DriftReference
from autocrop.errors import ConfigError, DataError
from autocrop.evaluation import Evaluator, Outcome
from autocrop.integrity import private_key
from autocrop.export import Bundle, check_out, copy_bundle, load_bundle, write_bundle
from autocrop.records import TrialRecord
from autocrop.selection import cheapest_meeting, closest
from autocrop.study import find_record

__all__ = ["select_trial", "manifest_for", "retrain", "drift_reference", "write_outcome", "Selected", "select_and_register", "export_trial", "export_alias"]


def select_trial(study: optuna.Study, max_fn: float, max_fp: float) -> TrialRecord:
    """Cheapest Pareto-optimal trial with val FN <= max_fn and val FP <= max_fp."""
    front = [TrialRecord.from_attrs(t.user_attrs) for t in study.best_trials]
    if not front:
        raise ConfigError(f"study `{study.study_name}` has no complete trials; run `autocrop search` first")
    rec = cheapest_meeting(front, max_fn, max_fp)
    if rec is not None:
        return rec
    near = closest(front, max_fn, max_fp)
    raise ConfigError(
        f"no Pareto trial of `{study.study_name}` has val FN <= {max_fn} and val FP <= {max_fp}; closest is trial "
        f"{near.number} (val FN {near.val_fn:.3f}, val FP {near.val_fp:.3f}, {near.cost_madds:,} MACs): "
        "loosen --max-fn/--max-fp or search longer"
    )


def manifest_for(rec: TrialRecord, cfg: Config, data: QueryData, study: str) -> dict[str, Any]:
    """Everything an edge node needs to reproduce this microclassifier's input and decision."""
    bb = data.backbone
    info = bb.layers()[rec.layer]
    return {
        "query": cfg.name,
        "study": study,
        "trial": rec.number,
        "baseline": rec.baseline,
        "backbone": {
            "model": cfg.backbone.model,
            "kwargs": cfg.backbone.kwargs,
            "weights_digest": bb.weights_digest,
            "input_size": list(cfg.backbone.input_size),
            "mean": list(bb.mean),
            "std": list(bb.std),
            "preprocessing": bb.preprocessing,
        },
        "input": rec.input.to_dict(),  # what the head reads: layer, cells or mask, extra layers, window, pooled
        "layer_shape": [info.channels, info.height, info.width],
        "crop": list(rec.crop),
        "input_shape": list(rec.input_shape),
        "head": {"kind": rec.head, "hparams": rec.hparams},
        "threshold": rec.threshold,
        "smoothing": {"k": cfg.search.smoothing.k, "n": cfg.search.smoothing.n},
        "cost_madds": rec.cost_madds,
        "metrics": {k: rec.metrics[k] for k in ("val_fp", "val_fn", "test_fp", "test_fn", "val_auc", "test_auc", "crossfit_folds")
                    if k in rec.metrics},  # crossfit_folds > 0: val rates are out-of-fold over every train and val label
    }


def drift_reference(data: QueryData, out: Outcome) -> DriftReference:
    """The drift statistics of a trained outcome's input: fitted on train frames, calibrated on val."""
    inp, rows = out.record.input, data.splits
    return DriftReference.fit(inp.gather(data.store, rows["train"]), inp.gather(data.store, rows["val"]), out.val_scores)


def write_outcome(out_dir: Path, cfg: Config, data: QueryData, out: Outcome, study: str, sign_key: Path | None = None) -> Path:
    """The bundle of a trained outcome (kept head): manifest, head, ONNX and drift statistics."""
    return write_bundle(out_dir, out.head, manifest_for(out.record, cfg, data, study), drift_reference(data, out), sign_key)


def retrain(cfg: Config, rec: TrialRecord) -> tuple[QueryData, Outcome]:
    """The record's head trained again on the cached features (same seed: same weights)."""
    data = prepare(cfg)
    data.store.extract(list(rec.input.layers), progress=False)
    return data, Evaluator(data, cfg).retrain(rec)


@dataclass(frozen=True)
class Selected:
    record: TrialRecord  # the stored trial
    fresh: TrialRecord  # the same trial trained again
    model_name: str
    version: str


def select_and_register(cfg: Config, study: optuna.Study, max_fn: float, max_fp: float, alias: str, model_name: str | None) -> Selected:
    """Pick by the rule, retrain, log the bundle as an MLflow model, register it and set `alias`."""
    from autocrop.tracking import Tracker

    rec = select_trial(study, max_fn, max_fp)
    data, out = retrain(cfg, rec)
    name = model_name or study.study_name
    tracker = Tracker(cfg.tracking.dir, cfg.tracking.experiment)
    with tempfile.TemporaryDirectory(dir=cfg.tracking.dir) as tmp:
        bundle = write_outcome(Path(tmp) / "bundle", cfg, data, out, study.study_name)
        parent = tracker.study_run(study.study_name, {})
        _run, version = tracker.register_model(parent, study.study_name, bundle, name, alias,
                                               {"study": study.study_name, "trial": str(rec.number)})
        tracker.finish(parent)
    return Selected(rec, out.record, name, version)


def export_trial(cfg: Config, study: optuna.Study, number: int, out: Path, sign_key: Path | None = None) -> Bundle:
    """Retrain trial `number` (negative: a baseline) and write its verified bundle to `out`."""
    check_out(out)  # before any retraining
    if sign_key is not None:
        private_key(sign_key)  # a bad key is refused before any retraining
    rec = find_record(study, number)
    data, fresh = retrain(cfg, rec)
    write_outcome(out, cfg, data, fresh, study.study_name, sign_key)
    return load_bundle(out)


def export_alias(cfg: Config, model_name: str, alias: str, out: Path, sign_key: Path | None = None) -> Bundle:
    """Copy the bundle registered under `alias` to `out`, verified."""
    from autocrop.tracking import Tracker

    check_out(out)  # before any download
    if sign_key is not None:
        private_key(sign_key)
    tracker = Tracker(cfg.tracking.dir, cfg.tracking.experiment)
    with tempfile.TemporaryDirectory() as tmp:
        src = tracker.bundle_for_alias(model_name, alias, Path(tmp))
        try:
            copy_bundle(src, out, sign_key)
        except DataError as exc:
            raise DataError(f"registered model `{model_name}` alias `{alias}`: {exc}") from None
    return load_bundle(out)
