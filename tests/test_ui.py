"""The MLflow UI in a real browser: `mlflow server` on 127.0.0.1, headless Debian Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from autocrop.tracking import tracking_uri

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(searched):
    home = searched.parent / "mlruns"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri(home),
         "--default-artifact-root", str(home / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,  # own process group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not answer on /health within 120 s") from None
                time.sleep(1)
        yield url, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server spawns workers: stop the whole group
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _chromium(*args: str, profile) -> str:
    exe = shutil.which("chromium")
    assert exe, "Debian's `chromium` is needed for the UI test: apt-get install chromium (.ci/run does)"
    out = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


def test_experiment_page_lists_the_study_runs(mlflow_server, tmp_path):
    url, home = mlflow_server
    client = MlflowClient(tracking_uri(home))
    exp = client.get_experiment_by_name("autocrop")
    n_runs = len(client.search_runs([exp.experiment_id], max_results=1000))
    page = f"{url}/#/experiments/{exp.experiment_id}/runs"
    dom = _chromium("--dump-dom", page, profile=tmp_path / "p1")
    assert "car-test" in dom  # the study's parent run
    match = re.search(r"(\d+)\s*</strong>\s*matching runs", dom)
    assert match, "the runs table did not render"
    assert int(match.group(1)) == n_runs
    shot = tmp_path / "experiment.png"
    _chromium("--window-size=1500,1000", f"--screenshot={shot}", page, profile=tmp_path / "p2")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_the_saved_view_shows_what_a_pick_depends_on(mlflow_server, tmp_path):
    """`search` prints a link to autocrop's saved runs view: the experiment opens as model training,
    with val/test FN and FP, MACs, layer, input, head and crop as columns, best val FN first."""
    from autocrop.tracking import Tracker

    url, home = mlflow_server
    tracker = Tracker(home, "autocrop")
    assert tracker.client.get_experiment(tracker.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    dom = _chromium("--window-size=2400,1000", "--dump-dom", tracker.view_url(url), profile=tmp_path / "p3")
    assert "Error loading shared view state" not in dom
    for column in ("val_fn", "val_fp", "test_fn", "test_fp", "cost_madds", "layer", "head", "input"):
        assert re.search(rf">\s*{column}\s*<", dom), f"column {column} is not shown"
    rows = re.findall(r">(trial-\d+|baseline-\w+)<", dom)
    assert len(rows) >= 12 and any(r.startswith("baseline-") for r in rows)  # child runs are listed, not only the parent
