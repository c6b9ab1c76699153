"""Sampler contract (in the style of Optuna's shared sampler tests), run over every registered sampler."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from autocrop.samplers import SAMPLERS, PaperSampler, make_sampler
from autocrop.space import SearchSpace, suggest
from autocrop.errors import ConfigError

SPACE = SearchSpace.model_validate({
    "layers": ["blocks.3.3", "blocks.4.2", "blocks.5.2"],
    "crop": {"center": [0.1, 0.9], "size": [0.1, 0.5]},
    "heads": {"svm": {"l2": {"low": 1e-5, "high": 1e-1, "log": True}}, "mlp": {"l2": 1e-4, "hidden": [50, 200]}},
})
ONE_LAYER = SPACE.model_copy(update={"layers": ["blocks.3.3"]})


def _run(name: str, seed: int, space: SearchSpace, n: int = 24) -> list[dict]:
    targets = {layer: {"crop_cx": 0.2, "crop_cy": 0.8, "crop_w": 0.4, "crop_h": 0.3} for layer in space.layers}
    study = optuna.create_study(directions=["minimize"] * 3, sampler=make_sampler(name, seed, {"targets": targets}))
    rng = np.random.default_rng(0)

    def objective(trial):
        spec = suggest(trial, space)
        box = spec.crop
        return (box.x1 - box.x0) * (box.y1 - box.y0), abs(box.x0 - 0.2), float(rng.random())

    study.optimize(objective, n_trials=n)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_seeded_runs_repeat(name):
    assert _run(name, 3, SPACE) == _run(name, 3, SPACE)
    assert _run(name, 3, SPACE) != _run(name, 4, SPACE)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samples_stay_within_the_space(name):
    for p in _run(name, 0, SPACE, n=30):
        assert p["layer"] in SPACE.layers
        assert 0.1 <= p["crop_cx"] <= 0.9 and 0.1 <= p["crop_cy"] <= 0.9
        assert 0.1 <= p["crop_w"] <= 0.5 and 0.1 <= p["crop_h"] <= 0.5
        assert p["head"] in SPACE.heads
        if p["head"] == "svm":
            assert 1e-5 <= p["svm.l2"] <= 1e-1
        else:
            assert p["mlp.hidden"] in (50, 200)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_one_layer_space(name):
    assert {p["layer"] for p in _run(name, 0, ONE_LAYER, n=12)} == {"blocks.3.3"}


def test_paper_sampler_draws_truncated_gaussians():
    params = _run("paper", 0, SPACE, n=400)
    cx = np.array([p["crop_cx"] for p in params])
    w = np.array([p["crop_w"] for p in params])
    assert abs(cx.mean() - 0.5) < 0.03  # symmetric around the centre of the frame
    assert 0.14 < cx.std() < 0.2  # N(0.5, 0.2) truncated to [0.1, 0.9]: sd ~0.17
    assert np.median(w) < 0.25  # N(0, 0.2) truncated to [0.1, 0.5]: small crops dominate
    assert (w < 0.3).mean() > 0.6


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="unknown sampler `grid`; choose one of"):
        make_sampler("grid", 0)


def test_paper_sampler_is_a_real_optuna_sampler():
    assert isinstance(PaperSampler(seed=0), optuna.samplers.BaseSampler)


def test_rf_sampler_concentrates_on_the_roi_cells():
    params = _run("rf", 0, SPACE, n=200)
    cx = np.array([p["crop_cx"] for p in params])
    near = np.abs(cx - 0.2) < 0.15
    assert near.mean() > 0.7  # most crops sit on the target; ~20 % explore with the paper's crops


def test_rf_sampler_needs_a_roi():
    with pytest.raises(ConfigError, match="needs a region of interest"):
        make_sampler("rf", 0, {})
