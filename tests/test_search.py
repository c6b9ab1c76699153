"""End to end on real footage: cached features -> Optuna search -> MLflow -> report."""

from __future__ import annotations

import json
import re

import pytest
from mlflow.tracking import MlflowClient

from autocrop.cli import main
from autocrop.tracking import tracking_uri
from conftest import load_study

pytestmark = pytest.mark.slow

REQUIRED = {"number", "layer", "crop", "head", "cost_madds", "val_fp", "val_fn", "test_fp", "test_fn", "baseline"}


def test_search_tracks_and_reports_then_resumes(query, tmp_path, capsys):
    assert main(["search", str(query), "--quiet", "--trials", "8"]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "pooled (GAP)" in out
    last = out.strip().splitlines()[-1]  # the verdict: the searched pick against the pooled one, on val and test
    assert re.fullmatch(r"verdict: (trial \d+ \(.+ MACs\) beats the pooled baseline \((logistic|mlp), [\d,]+ MACs\)"
                        r"|the search did NOT beat the pooled baseline \((logistic|mlp), [\d,]+ MACs\): best trial \d+ \(.+ MACs\))"
                        r" at val FP <= 0.05: val FN \d\.\d{3} vs \d\.\d{3}; test FN \d\.\d{3} vs \d\.\d{3} at test FP \d\.\d{3} vs \d\.\d{3}"
                        r"(; it (holds|does NOT hold) on test)?", last), last
    assert ("beats" in last) == ("on test" in last)

    client = MlflowClient(tracking_uri(tmp_path / "mlruns"))
    exp = client.get_experiment_by_name("autocrop")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("autocrop.role") == "study"]
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1
    assert sum(r.data.tags["baseline"] == "false" for r in nested) == 8
    assert sum(r.data.tags["baseline"] == "true" for r in nested) == 2  # one per head kind
    trial = next(r for r in nested if r.data.tags["baseline"] == "false")
    assert {"layer", "crop", "head", "hp.l2"} <= set(trial.data.params)
    assert {"val_fp", "val_fn", "test_fp", "test_fn", "val_acc", "cost_madds"} <= set(trial.data.metrics)

    assert main(["report", str(query), "--json", "--all"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(REQUIRED <= set(r) for r in rows)
    assert sum(not r["baseline"] for r in rows) == 8
    assert sum(r["baseline"] for r in rows) == 2
    for r in rows:
        assert 0 <= r["val_fp"] <= 1 and 0 <= r["test_fn"] <= 1 and r["cost_madds"] > 0

    # same study name: resumes, adds trials, keeps one parent run and does not redo baselines
    assert main(["search", str(query), "--quiet", "--trials", "4"]) == 0
    study = load_study(tmp_path / "mlruns")
    assert len(study.trials) == 12
    runs = client.search_runs([exp.experiment_id], max_results=100)
    assert sum(r.data.tags.get("autocrop.role") == "study" for r in runs) == 1
    assert sum(r.data.tags.get("baseline") == "true" for r in runs) == 2


def test_report_of_unknown_study(query, capsys):
    assert main(["report", str(query), "--study", "nope"]) == 2
    assert "no study `nope`" in capsys.readouterr().err


def test_searched_crop_beats_pooled_baseline_on_the_region(query, capsys):
    """The paper's claim, checked cheaply: the query region's crop vs the pooled final layer."""
    from autocrop.config import load_config
    from autocrop.crops import Crop
    from autocrop.dataset import prepare
    from autocrop.evaluation import Evaluator, run_baselines
    from autocrop.space import TrialSpec, load_space

    cfg = load_config(query, ["search.max_steps=150"])
    ev = Evaluator(prepare(cfg), cfg)
    region = Crop.from_pixels((0, 150, 130, 240), 320, 240)
    crop = ev.run([ev.job(TrialSpec("blocks.3.3", region, "logistic", {"l2": 1e-3}), 0)])[0].record
    base = min(run_baselines(ev, load_space(cfg.search.space)), key=lambda r: r.test_fn + r.test_fp)
    assert crop.metrics["test_auc"] > base.metrics["test_auc"]
