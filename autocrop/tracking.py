"""MLflow tracking: one parent run per study, one nested run per trial. The only mlflow import."""

from __future__ import annotations

from collections.abc import Mapping
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

__all__ = ["Tracker", "tracking_uri"]

_STUDY_TAG = "autocrop.study"
_ROLE_TAG = "autocrop.role"


def tracking_uri(home: Path) -> str:
    """`sqlite:///<home>/mlflow.db`: MLflow >= 3.13 refuses the old file store."""
    return f"sqlite:///{Path(home).resolve()}/mlflow.db"


class Tracker:
    """Writes a study's runs into the MLflow store under `home` (artifacts in `home/artifacts`)."""

    def __init__(self, home: Path, experiment: str):
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

    def study_run(self, study: str, params: Mapping[str, Any]) -> str:
        """The parent run of `study`, resumed if it exists, else created."""
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{_STUDY_TAG}` = '{study}' and tags.`{_ROLE_TAG}` = 'study'",
            max_results=1,
        )
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=study, tags={_STUDY_TAG: study, _ROLE_TAG: "study"})
        self._log(run.info.run_id, params=params)
        return run.info.run_id

    def trial_run(self, parent: str, study: str, name: str, params: Mapping[str, Any], metrics: Mapping[str, float], tags: Mapping[str, str]) -> str:
        """A finished nested run under `parent` for one trial (or baseline)."""
        all_tags = {"mlflow.parentRunId": parent, _STUDY_TAG: study, _ROLE_TAG: "trial", **tags}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        self._log(run.info.run_id, params=params, metrics=metrics)
        self.client.set_terminated(run.info.run_id)
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        self._log(run_id, metrics=metrics, step=step)

    def log_artifact(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=folder)

    def log_figures(self, run_id: str, figures: Mapping[str, Any]) -> None:
        """PNG artifacts from matplotlib figures (closed afterwards)."""
        import matplotlib.pyplot as plt

        for name, fig in figures.items():
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

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id)

    def _log(self, run_id: str, params: Mapping[str, Any] = {}, metrics: Mapping[str, float] = {}, step: int = 0) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v == v],  # drop NaN
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        )
