"""MLflow tracking: one parent run per study, one nested run per trial. The only mlflow import.

`NullTracker` has the same methods and does nothing, so the search loop never asks whether it
is tracked; figures are passed as callables and only drawn when a real tracker logs them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autocrop.records import TrialRecord

__all__ = ["Tracker", "NullTracker", "tracking_uri", "record_params", "record_metrics"]

Figures = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def record_params(rec: TrialRecord) -> dict[str, Any]:
    """What a run's parameters show of a record: where its input comes from and its head."""
    inp = rec.input
    return {
        "layer": rec.layer,
        "crop": list(rec.crop),
        "cells": list(inp.cells),
        "input": inp.kind,
        "head": rec.head,
        "pooled": inp.pooled,
        "input_shape": list(rec.input_shape),
        **({"extra_layers": [lay for lay, _ in inp.extra]} if inp.extra else {}),
        **({"window": inp.window} if inp.window > 1 else {}),
        **{f"hp.{k}": v for k, v in rec.hparams.items()},
    }


def record_metrics(rec: TrialRecord) -> dict[str, float]:
    return {"cost_madds": rec.cost_madds, "gather_elements": rec.gather_elements, "backbone_madds": rec.backbone_madds,
            "steps": rec.steps, **rec.metrics}


class NullTracker:
    """Tracking switched off (`--no-mlflow`): every call is accepted and nothing is written."""

    active = False  # whether anything logged is kept (so callers can skip preparing figures)

    def study_run(self, study: str, params: Mapping[str, Any]) -> str:
        return ""

    def trial_run(self, parent: str, study: str, name: str, params: Mapping[str, Any], metrics: Mapping[str, float], tags: Mapping[str, str]) -> str:
        return ""

    def log_record(self, parent: str, study: str, rec: TrialRecord, figures: Figures | None = None) -> str:
        return ""

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        pass

    def log_figures(self, run_id: str, figures: Figures) -> None:
        pass

    def label_run(self, study: str, params: Mapping[str, Any], files: list[Path]) -> str:
        return ""

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        pass

_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"
_VIEW_TAG, VIEW_KEY = "mlflow.sharedViewState.", "autocrop"  # MLflow's shared runs-table views
_VIEW_COLUMNS = [("metrics", "val_fn"), ("metrics", "val_fp"), ("metrics", "test_fn"), ("metrics", "test_fp"),
                 ("metrics", "cost_madds"), ("params", "layer"), ("params", "input"), ("params", "head"), ("params", "crop")]
_STUDY_TAG = "autocrop.study"
ORPHAN_S = 60  # a nested run still RUNNING this long after it started belongs to a killed process
_ROLE_TAG = "autocrop.role"


def tracking_uri(home: Path) -> str:
    """`sqlite:///<home>/mlflow.db`: MLflow >= 3.13 refuses the old file store."""
    return f"sqlite:///{Path(home).resolve()}/mlflow.db"


class Tracker(NullTracker):
    """Writes a study's runs into the MLflow store under `home` (artifacts in `home/artifacts`)."""

    active = True

    def __init__(self, home: Path, experiment: str):
        from mlflow.tracking import MlflowClient

        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(home)
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            exp.experiment_id
            if exp is not None
            else self.client.create_experiment(experiment, artifact_location=(home.resolve() / "artifacts").as_uri())
        )
        if exp is None or exp.tags.get(_KIND_TAG) != _KIND:  # the UI opens it as model training, not GenAI
            self.client.set_experiment_tag(self.experiment_id, _KIND_TAG, _KIND)
        self._view_tags = dict(exp.tags) if exp is not None else {}

    def _parent_of(self, study: str) -> str | None:
        """The id of `study`'s parent run, if it has one."""
        found = self.client.search_runs([self.experiment_id], max_results=1,
                                        filter_string=f"tags.`{_STUDY_TAG}` = '{study}' and tags.`{_ROLE_TAG}` = 'study'")
        return found[0].info.run_id if found else None

    def study_run(self, study: str, params: Mapping[str, Any]) -> str:
        """The parent run of `study`, resumed if it exists, else created."""
        run_id = self._parent_of(study)
        if run_id is not None:
            self.client.update_run(run_id, status="RUNNING")
            self._close_orphans(run_id)
            self._share_view(run_id)
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=study, tags={_STUDY_TAG: study, _ROLE_TAG: "study"})
        self._log(run.info.run_id, params=params)
        self._share_view(run.info.run_id)
        return run.info.run_id

    def _share_view(self, parent: str) -> None:
        """A saved runs-table view (`?viewStateShareKey=autocrop`, see `view_url`): the columns a pick
        depends on, best val FN first, every study's parent run expanded."""
        key = _VIEW_TAG + VIEW_KEY
        try:
            expanded = json.loads(self._view_tags.get(key, "{}")).get("runsExpanded", {})
        except ValueError:
            expanded = {}
        view = {"selectedColumns": [f"{kind}.`{name}`" for kind, name in _VIEW_COLUMNS], "orderByKey": "metrics.`val_fn`",
                "orderByAsc": True, "runsExpanded": {**expanded, parent: True}}
        self.client.set_experiment_tag(self.experiment_id, key, json.dumps(view))
        self._view_tags[key] = json.dumps(view)

    def view_url(self, base: str = "http://127.0.0.1:5000") -> str:
        """The runs table of this experiment in the MLflow UI, with autocrop's saved view."""
        return f"{base}/#/experiments/{self.experiment_id}/runs?viewStateShareKey={VIEW_KEY}"

    def _close_orphans(self, parent: str) -> None:
        """Mark FAILED the trial runs a killed process left RUNNING: a trial run is created and
        ended within one call, so one still running after `ORPHAN_S` has lost its process."""
        now = time.time() * 1000
        for run in self.client.search_runs([self.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}' and attributes.status = 'RUNNING'"):
            if now - run.info.start_time > ORPHAN_S * 1000:
                self.client.set_terminated(run.info.run_id, status="FAILED")

    def trial_run(self, parent: str, study: str, name: str, params: Mapping[str, Any], metrics: Mapping[str, float], tags: Mapping[str, str]) -> str:
        """A finished nested run under `parent` for one trial (or baseline)."""
        all_tags = {"mlflow.parentRunId": parent, _STUDY_TAG: study, _ROLE_TAG: "trial", **tags}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        self._log(run.info.run_id, params=params, metrics=metrics)
        self.client.set_terminated(run.info.run_id)
        return run.info.run_id

    def log_record(self, parent: str, study: str, rec: TrialRecord, figures: Figures | None = None) -> str:
        """A nested run for a trial (`trial-N`) or a baseline (`baseline-<head>`), with its figures."""
        name = f"baseline-{rec.head}" if rec.baseline else f"trial-{rec.number}"
        run_id = self.trial_run(parent, study, name, record_params(rec), record_metrics(rec), {"baseline": str(rec.baseline).lower()})
        if figures is not None:
            self.log_figures(run_id, figures)
        return run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        self._log(run_id, metrics=metrics, step=step)

    def label_run(self, study: str, params: Mapping[str, Any], files: list[Path]) -> str:
        """A finished `label-next-<study>` run (under the study's parent run when there is one)
        holding a batch of proposals: its CSV and contact sheet."""
        parent = self._parent_of(study)
        tags = {_STUDY_TAG: study, _ROLE_TAG: "label-next"} | ({"mlflow.parentRunId": parent} if parent else {})
        run = self.client.create_run(self.experiment_id, run_name=f"label-next-{study}", tags=tags)
        self._log(run.info.run_id, params=params)
        for f in files:
            self.client.log_artifact(run.info.run_id, str(f), artifact_path="label-next")
        self.client.set_terminated(run.info.run_id)
        return run.info.run_id

    def log_artifact(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=folder)

    def log_figures(self, run_id: str, figures: Figures) -> None:
        """PNG artifacts from matplotlib figures (closed afterwards); a callable is drawn here."""
        import matplotlib.pyplot as plt

        for name, fig in (figures() if callable(figures) else figures).items():
            self.client.log_figure(run_id, fig, name)
            plt.close(fig)

    def register_model(self, parent: str, study: str, bundle: Path, model_name: str, alias: str, tags: Mapping[str, str]) -> tuple[str, str]:
        """Log the bundle's ONNX head as an MLflow model (ONNX flavour: nothing pickled) in a
        nested `model` run with the whole bundle as artifacts; register it and set `alias`."""
        import mlflow
        import mlflow.onnx
        import onnx

        run = self.client.create_run(self.experiment_id, run_name=f"model-{model_name}",
                                     tags={"mlflow.parentRunId": parent, _STUDY_TAG: study, _ROLE_TAG: "model", **tags})
        run_id = run.info.run_id
        self.client.log_artifacts(run_id, str(bundle), artifact_path="bundle")
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.onnx.log_model(onnx.load(str(bundle / "head.onnx")), name="head", registered_model_name=model_name)
        version = str(info.registered_model_version)
        self.client.set_registered_model_alias(model_name, alias, version)
        for k, v in tags.items():
            self.client.set_model_version_tag(model_name, version, k, v)
        return run_id, version

    def bundle_for_alias(self, model_name: str, alias: str, dest: Path) -> Path:
        """Download the bundle logged with the model version that `alias` points to."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException:
            from autocrop.errors import ConfigError

            raise ConfigError(f"no model `{model_name}` with alias `{alias}` in {self.uri}; run `autocrop select` first") from None
        return Path(self.client.download_artifacts(mv.run_id, "bundle", str(dest)))

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run: FINISHED, or KILLED / FAILED when the search was interrupted or broke."""
        self.client.set_terminated(run_id, status=status)

    def _log(self, run_id: str, params: Mapping[str, Any] = {}, metrics: Mapping[str, float] = {}, step: int = 0) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v == v],  # drop NaN
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        )
