"""A search killed mid-batch loses no finished trial and leaves nothing RUNNING once resumed."""

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
from conftest import write_config, load_study

pytestmark = pytest.mark.slow

STATES = optuna.trial.TrialState


def _study(tmp):
    return load_study(tmp / "mlruns")


def _states(tmp, claimed: bool = False) -> list:
    """Trial states; `claimed`: only running trials that their worker has claimed and drawn (a kill lands in training)."""
    try:
        trials = _study(tmp).get_trials(deepcopy=False)
    except Exception:  # no study yet
        return []
    return [t.state for t in trials if not claimed or t.state != STATES.RUNNING or ("autocrop:worker" in t.system_attrs and "head" in t.params)]


def _start_and_wait(tmp, cfg, complete_first: int) -> subprocess.Popen:
    """A search in its own process, once it is training a batch after `complete_first` complete trials."""
    # Ctrl-C as in a terminal: a shell's background job (CI started with `&`) inherits SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-m", "autocrop.cli", "search", str(cfg), "--quiet", "--trials", "12"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    end = time.monotonic() + 300
    while time.monotonic() < end and proc.poll() is None:
        s, claimed = _states(tmp), _states(tmp, claimed=True)
        if s.count(STATES.RUNNING) == claimed.count(STATES.RUNNING) == 4 and s.count(STATES.COMPLETE) >= complete_first:
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the search never reached a running batch: {proc.communicate()[1][-500:]}")


def _running_mlflow_runs(tmp) -> list:
    client = MlflowClient(tracking_uri(tmp / "mlruns"))
    exp = client.get_experiment_by_name("autocrop")
    return [r for r in client.search_runs([exp.experiment_id]) if r.info.status == "RUNNING"]


def test_sigkill_mid_batch_then_resume(tmp_path, shared_cache):
    cfg = write_config(tmp_path, cache_dir=str(shared_cache), search__batch=4, search__max_steps=200)
    proc = _start_and_wait(tmp_path, cfg, complete_first=4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _states(tmp_path)
    complete = before.count(STATES.COMPLETE)
    assert before.count(STATES.RUNNING) == 4 and complete >= 4
    assert main(["search", str(cfg), "--quiet", "--trials", "4", "--retry-failed"]) == 0
    after = _states(tmp_path)
    assert STATES.RUNNING not in after
    assert after.count(STATES.FAIL) == 4 and after.count(STATES.COMPLETE) == complete + 4  # nothing lost
    assert _running_mlflow_runs(tmp_path) == []
    trials = _study(tmp_path).trials
    failed = {t.number: t.params for t in trials if t.state == STATES.FAIL}
    retried = {t.user_attrs["autocrop:retry_of"]: t.params for t in trials if "autocrop:retry_of" in t.user_attrs}
    assert retried == failed  # the killed batch ran again, with the same parameters
    assert main(["search", str(cfg), "--quiet", "--trials", "1", "--retry-failed"]) == 0  # not twice
    assert sum("autocrop:retry_of" in t.user_attrs for t in _study(tmp_path).trials) == 4


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_fails_the_batch_and_closes_the_runs(tmp_path, shared_cache, capsys, sig, code, word):
    """Mid-training (inside Lightning's fit, which would turn it into exit 1), as anywhere else."""
    cfg = write_config(tmp_path, cache_dir=str(shared_cache), search__batch=4, search__max_steps=200)
    proc = _start_and_wait(tmp_path, cfg, complete_first=0)
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == code, err[-800:]
    assert word in err
    states = _states(tmp_path)
    assert STATES.RUNNING not in states and states.count(STATES.FAIL) >= 1
    client = MlflowClient(tracking_uri(tmp_path / "mlruns"))
    exp = client.get_experiment_by_name("autocrop")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("autocrop.role") == "study")
    assert parent.info.status == "KILLED" and _running_mlflow_runs(tmp_path) == []
    capsys.readouterr()
    assert main(["report", str(cfg)]) == 0
    assert "failed)" in capsys.readouterr().out
