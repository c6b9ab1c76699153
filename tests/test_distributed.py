"""Distributed search: two worker processes add trials to one study in PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import optuna
import pytest

pytestmark = pytest.mark.slow

PG_URL = os.environ.get("AUTOCROP_PG_URL")


@pytest.fixture
def pg_url():
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set AUTOCROP_PG_URL (.ci/run starts PostgreSQL with .ci/postgres.sh)")
        pytest.skip("set AUTOCROP_PG_URL=$(bash .ci/postgres.sh) to run the PostgreSQL test")
    return PG_URL


def test_two_workers_share_one_postgres_study(query, pg_url, tmp_path):
    study = f"dist-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "autocrop.cli", "search", str(query), "--quiet", "--no-mlflow", "--trials", "6",
           "--study", study, "--storage", pg_url]
    workers = [subprocess.Popen([*cmd, "--worker", str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for w in (0, 1)]
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-2000:]
    s = optuna.load_study(study_name=study, storage=pg_url)
    done = [t for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12 and len({t.number for t in done}) == 12
    crops = {(t.params["layer"], round(t.params["crop_cx"], 6), round(t.params["crop_cy"], 6)) for t in done}
    assert len(crops) == 12  # the workers' samplers are seeded apart: no duplicated trials
    assert len(s.user_attrs["baselines"]) == 2
    optuna.delete_study(study_name=study, storage=pg_url)
