"""Where studies live: the journal file by default, databases by URL, and one-line errors for both."""

from __future__ import annotations

import pytest

from autocrop.cli import main
from conftest import write_config


@pytest.mark.parametrize("storage,says", [
    ("nosuchdialect://host/db", "cannot open the study database (Can't load plugin: sqlalchemy.dialects:nosuchdialect)"),
    ("/proc/autocrop/studies.journal", "cannot open the study journal ("),
])
def test_a_storage_that_cannot_be_opened_is_one_line(tmp_path, capsys, storage, says):
    cfg = write_config(tmp_path)
    assert main(["report", str(cfg), "--set", f"search.storage={storage}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"search.storage {storage}: {says}" in err, err


def test_a_damaged_journal_is_named_and_left_alone(tmp_path, capsys):
    cfg = write_config(tmp_path)
    journal = tmp_path / "mlruns" / "optuna.journal"
    journal.parent.mkdir()
    journal.write_text('{"op_code": 0, "worker_id": "w", "study_name": "car-test", "directions": [1]}\nGARBAGE\n{"op_code": 0}\n')
    before = journal.read_bytes()
    assert main(["report", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{journal}: damaged study journal" in err, err
    assert journal.read_bytes() == before


def test_a_journal_cut_short_by_a_kill_still_reads(tmp_path, capsys):
    """A process killed while appending leaves half a last line: Optuna skips it."""
    cfg = write_config(tmp_path)
    journal = tmp_path / "mlruns" / "optuna.journal"
    journal.parent.mkdir()
    journal.write_text('{"op_code": 0, "worker_id": "w", "study_name": "other", "directions": [1, 1, 1]}\n{"op_code": 0, "wor')
    assert main(["report", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no study `car-test`" in err and "(studies there: other)" in err, err


def test_an_earlier_projects_sqlite_studies_keep_being_read(tmp_path, capsys):
    """A project searched before the journal default has mlruns/optuna.db: it stays the storage."""
    import optuna

    cfg = write_config(tmp_path)
    (tmp_path / "mlruns").mkdir()
    optuna.create_study(study_name="car-test", storage=f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}", directions=["minimize"] * 3)
    assert main(["report", str(cfg)]) == 0
    assert "0 complete trials in study `car-test`" in capsys.readouterr().out
    assert not (tmp_path / "mlruns" / "optuna.journal").exists()
