"""`autocrop search --workers N`: N processes on one study (the embedded journal storage)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from autocrop.cli import main
from autocrop.tracking import tracking_uri
from autocrop.workers import shares
from conftest import load_study, write_config

pytestmark = pytest.mark.slow
STATES = optuna.trial.TrialState


def test_shares_split_trials_evenly():
    assert shares(8, 2) == [4, 4] and shares(7, 3) == [3, 2, 2] and shares(1, 3) == [1]


def test_two_workers_give_unique_trials_one_baseline_one_parent_run(tmp_path, shared_cache, capsys):
    cfg = write_config(tmp_path, cache_dir=str(shared_cache), search__batch=2)
    assert main(["search", str(cfg), "--quiet", "--workers", "2", "--trials", "8"]) == 0
    out = capsys.readouterr().out
    assert "8 complete trials in study `car-test`" in out
    study = load_study(tmp_path / "mlruns")
    done = [t for t in study.trials if t.state == STATES.COMPLETE]
    assert len(study.trials) == len(done) == 8 and len({t.number for t in done}) == 8
    assert len({tuple(sorted(t.params.items())) for t in done}) == 8  # no parameter set twice
    pids = {t.system_attrs["autocrop:worker"] for t in done}
    assert len(pids) == 2  # both workers trained trials, and neither was this process
    assert not any(p.endswith(f":{__import__('os').getpid()}") for p in pids)
    client = MlflowClient(tracking_uri(tmp_path / "mlruns"))
    runs = client.search_runs([client.get_experiment_by_name("autocrop").experiment_id])
    parents = [r for r in runs if r.data.tags.get("autocrop.role") == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.info.run_name for r in children if r.data.tags["baseline"] == "false") == sorted(f"trial-{t.number}" for t in done)
    assert len([r for r in children if r.data.tags["baseline"] == "true"]) == len(study.user_attrs["baselines"]) == 2
    assert all(r.info.status == "FINISHED" for r in runs)


def test_sigterm_stops_every_worker_and_fails_their_batches(tmp_path, shared_cache):
    cfg = write_config(tmp_path, cache_dir=str(shared_cache), search__batch=2, search__max_steps=300, search__patience=300)
    proc = subprocess.Popen([sys.executable, "-m", "autocrop.cli", "search", str(cfg), "--quiet", "--workers", "2",
                             "--trials", "40", "--no-mlflow"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 300
    while time.monotonic() < end:
        try:
            running = [t for t in load_study(tmp_path / "mlruns").trials if t.state == STATES.RUNNING and "autocrop:worker" in t.system_attrs]
        except (KeyError, FileNotFoundError):  # no study yet
            running = []
        if len({t.system_attrs["autocrop:worker"] for t in running}) == 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err[-800:]
    states = [t.state for t in load_study(tmp_path / "mlruns").trials]
    assert STATES.RUNNING not in states and states.count(STATES.FAIL) >= 2
    assert "--workers 0" not in err
    assert main(["search", str(cfg), "--quiet", "--workers", "0"]) == 2


def test_a_worker_that_fails_is_reported(tmp_path, shared_cache, capsys, monkeypatch):
    """Workers that die at start (a broken environment) fail the search with exit 1, naming them."""
    cfg = write_config(tmp_path, cache_dir=str(shared_cache))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("import os\nos._exit(3)\n")  # runs in the workers only
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path / 'site'}:{__import__('os').environ.get('PYTHONPATH', '')}")
    code = main(["search", str(cfg), "--quiet", "--workers", "2", "--trials", "2", "--no-mlflow"])
    err = capsys.readouterr().err
    assert code == 1 and "worker 0 exited with code 3, worker 1 exited with code 3" in err, err
    assert STATES.RUNNING not in [t.state for t in load_study(tmp_path / "mlruns").trials]
