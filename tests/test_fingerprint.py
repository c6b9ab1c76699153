"""A study remembers what it was made from and refuses to resume with anything else."""

from __future__ import annotations

import pytest
import yaml

from autocrop.cli import main
from conftest import SPACE, load_study, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def started(tmp_path, shared_cache):
    cfg = write_config(tmp_path, cache_dir=str(shared_cache), search__trials=4)
    assert main(["search", str(cfg), "--quiet", "--no-mlflow"]) == 0
    return cfg


@pytest.mark.parametrize("override,part", [
    ("footage.start=520", "footage"),
    ("labels.min_fraction=0.2", "labels"),
    ("split.blocks=2", "split"),
    ("backbone.input_size=[96,128]", "backbone"),
    ("search.operating_point.target=0.1", "operating point"),
])
def test_resume_with_other_inputs_is_refused(started, tmp_path, shared_cache, capsys, override, part):
    before = len(load_study(tmp_path / "mlruns").trials)
    cache = sorted(p.name for p in shared_cache.rglob("*"))
    assert main(["search", str(started), "--quiet", "--no-mlflow", "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    changed = err.split("was made from other ")[1].split(" (")[0].split(", ")
    assert part in changed and "--study car-test-2" in err and str(started) in err
    assert len(load_study(tmp_path / "mlruns").trials) == before  # nothing added
    assert sorted(p.name for p in shared_cache.rglob("*")) == cache  # refused before extracting anything


def test_an_edited_space_is_refused_by_name_and_a_new_study_name_works(started, tmp_path, capsys):
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({**SPACE, "layers": ["blocks.3.3"]}))
    assert main(["search", str(started), "--quiet", "--no-mlflow"]) == 2
    err = capsys.readouterr().err
    assert "other space (space: was layers blocks.3.3, blocks.5.2; heads logistic, mlp, now layers blocks.3.3;" in err
    assert main(["search", str(started), "--quiet", "--no-mlflow", "--study", "car-test-2", "--trials", "4"]) == 0
    assert len(load_study(tmp_path / "mlruns", "car-test-2").trials) == 4


def test_what_may_change_between_runs_resumes(started, tmp_path):
    """The sampler, batch size and trial count are not part of the experiment."""
    assert main(["search", str(started), "--quiet", "--no-mlflow", "--sampler", "tpe", "--trials", "2",
                 "--set", "search.batch=2"]) == 0
    study = load_study(tmp_path / "mlruns")
    assert len(study.trials) == 6
    assert set(study.user_attrs["autocrop:made_from"]) == {"footage", "labels", "split", "backbone", "space", "operating point"}
