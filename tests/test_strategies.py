"""rf targets from receptive fields, group-lasso proposals, and constraints, on real features."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.receptive import receptive_fields
from autocrop.samplers import roi_targets
from autocrop.samplers.sparse import group_lasso_path, sparse_proposals
from autocrop.space import load_space


def test_roi_targets_cover_the_region(query):
    data = prepare(load_config(query))
    bb = data.backbone
    t = roi_targets(receptive_fields(bb), bb.layers(), ["blocks.3.3", "blocks.5.2"], [(0, 150), (130, 150), (130, 240), (0, 240)],
                    (240, 320), (120, 160))
    for target in t.values():  # left lane near the camera: left part, bottom of the frame
        assert target["crop_cx"] < 0.3 and target["crop_cy"] > 0.7
        assert 0.3 <= target["crop_w"] <= 0.5 and 0.25 <= target["crop_h"] <= 0.5  # region: 0.41 x 0.375, in whole cells


def test_group_lasso_path_grows_and_finds_the_informative_cell():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4, 5, 6)).astype(np.float32)
    y = (x[:, :, 3, 1].sum(1) > 0).astype(np.int64)  # only cell (3, 1) matters
    supports = group_lasso_path(x, y, n_lambdas=5)
    sizes = [int(s.sum()) for s in supports]
    assert sizes == sorted(sizes)
    first = next(s for s in supports if s.any())
    assert first[3, 1] and first.sum() == 1


@pytest.mark.slow
def test_sparse_proposals_are_valid_enqueued_crops(query):
    cfg = load_config(query)
    data = prepare(cfg)
    space = load_space(cfg.search.space)
    props = sparse_proposals(data, space, per_layer=2)
    assert props and {p["layer"] for p in props} <= set(space.layers)
    for p in props:
        assert 0.1 <= p["crop_w"] <= 0.5 and 0.1 <= p["crop_cx"] <= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["rf", "sparse"])
def test_search_with_strategy_and_constraints(query, tmp_path, sampler):
    over = ["search.constraints.max_fp=0.05", "search.constraints.max_fn=0.3"]
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", "8", "--sampler", sampler, *[a for o in over for a in ("--set", o)]]) == 0
    study = optuna.load_study(study_name="car-test", storage=f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}")
    assert len(study.trials) == 8
    for t in study.best_trials:  # only feasible trials on the front
        assert t.user_attrs["val_fp"] <= 0.05 and t.user_attrs["val_fn"] <= 0.3
    assert all(set(t.constraints) == {"val_fn", "val_fp"} if isinstance(t.constraints, dict) else len(t.constraints) == 2 for t in study.trials)
