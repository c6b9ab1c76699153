"""Where studies live: the journal file by default, databases by URL, and one-line errors for both."""

from __future__ import annotations

import pytest

from autocrop.cli import main
from conftest import write_config


@pytest.mark.parametrize("command,storage,says", [
    ("report", "nosuchdialect://host/db", "search.storage nosuchdialect://host/db: cannot open the study database (Can't load plugin: sqlalchemy.dialects:nosuchdialect)"),
    ("search", "/proc/autocrop/studies.journal", "search.storage /proc/autocrop/studies.journal: cannot open the study journal ("),
    # reading creates no journal: there is none, so no study in it
    ("report", "/proc/autocrop/studies.journal", "no study `car-test` in /proc/autocrop/studies.journal; run `autocrop search` first"),
])
def test_a_storage_that_cannot_be_opened_is_one_line(tmp_path, capsys, command, storage, says):
    cfg = write_config(tmp_path)
    assert main([command, str(cfg), "--set", f"search.storage={storage}", *["--no-mlflow"] * (command == "search")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "cache").exists()  # refused before any work


def test_reading_a_study_that_does_not_exist_creates_nothing(tmp_path, capsys):
    cfg = write_config(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["report", str(cfg)]) == 2
    assert "no study `car-test`" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no mlruns/ with an empty journal


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
