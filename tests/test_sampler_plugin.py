"""Adding a search strategy touches one place: a sampler registered here, in the test file alone."""

from __future__ import annotations

import optuna
import pytest

from autocrop.cli import main
from autocrop.samplers import SAMPLERS, register_sampler
from conftest import load_study

CORNER = {"crop_cx": 0.2, "crop_cy": 0.8, "crop_w": 0.3, "crop_h": 0.25}


class CornerSampler(optuna.samplers.RandomSampler):
    """Random layer and head, always the bottom-left crop."""

    def sample_independent(self, study, trial, param_name, param_distribution):
        if param_name in CORNER:
            return CORNER[param_name]
        return super().sample_independent(study, trial, param_name, param_distribution)


def _first_proposal(data, space):
    return [({"layer": space.layers[-1], "head": "logistic", "logistic.l2": 1e-3, **CORNER}, {})]


@pytest.fixture
def corner_sampler():
    @register_sampler("corner-test", help="the bottom-left crop", propose=_first_proposal)
    def _corner(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
        return CornerSampler(seed=seed)

    yield "corner-test"
    SAMPLERS.pop("corner-test")


def test_a_sampler_registered_in_a_test_file_searches(corner_sampler, query, tmp_path):
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", "4", "--sampler", corner_sampler]) == 0
    study = load_study(tmp_path / "mlruns")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 4 and all(t.params["crop_cx"] == 0.2 and t.params["crop_h"] == 0.25 for t in done)
    assert done[0].params["layer"] == "blocks.5.2" and done[0].params["head"] == "logistic"  # the enqueued proposal
    # config validation and the CLI's help read the same registry
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", "1", "--set", f"search.sampler={corner_sampler}"]) == 0


def test_help_lists_registered_samplers(corner_sampler, capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert all(name in out for name in SAMPLERS) and "the bottom-left crop" in out


def test_a_duplicate_sampler_name_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_sampler("paper")(lambda seed, ctx: None)


def test_unknown_sampler_in_config_and_space(query, tmp_path, capsys):
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--set", "search.sampler=tpee"]) == 2
    assert "unknown sampler `tpee`" in capsys.readouterr().err
    space = tmp_path / "space.yaml"
    space.write_text(space.read_text().replace("sampler: paper", "sampler: nope"))
    assert main(["search", str(query), "--quiet", "--no-mlflow"]) == 2
    err = capsys.readouterr().err
    assert "space.yaml: `sampler`: unknown sampler `nope`" in err and len(err.strip().splitlines()) == 1
