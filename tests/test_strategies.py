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
from conftest import load_study


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
    assert props and {p["layer"] for p, _ in props} <= set(space.layers)
    assert any("extra_inputs" in attrs for _, attrs in props)  # two-layer candidates too
    for p, attrs in props:
        assert 0.1 <= p["crop_w"] <= 0.5 and 0.1 <= p["crop_cx"] <= 0.9
        mask = attrs.get("cell_mask")
        if mask is not None:  # a non-rectangular support: strictly fewer cells than its bounding box
            rows, cols = np.array(mask).T
            assert len(mask) < (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


@pytest.mark.slow
def test_auto_proposes_the_region_cells_of_every_layer_before_the_group_lasso(query):
    """With a region, `auto` enqueues its cells on each layer first (no label needed: on few labels
    they are what a search can trust), then the group-lasso proposals; without one, those alone."""
    from autocrop.samplers import SAMPLERS, rf_context

    cfg = load_config(query)
    data = prepare(cfg)
    space = load_space(cfg.search.space)
    props, lasso = SAMPLERS["auto"].propose(data, space), sparse_proposals(data, space)
    first, targets = props[: len(space.layers)], rf_context(cfg, data, space)["targets"]
    assert [p["layer"] for p, _ in first] == list(space.layers) and props[len(space.layers):] == lasso
    (lo_c, hi_c), (lo_s, hi_s) = space.crop.center, space.crop.size
    for (p, attrs), layer in zip(first, space.layers, strict=True):
        assert attrs == {} and p["head"] == "logistic" and p["logistic.l2"] == pytest.approx(1e-3)
        for k in ("crop_cx", "crop_cy"):
            assert p[k] == pytest.approx(np.clip(targets[layer][k], lo_c, hi_c))
        for k in ("crop_w", "crop_h"):
            assert p[k] == pytest.approx(np.clip(targets[layer][k], lo_s, hi_s))
    assert first[0][0]["crop_cx"] < 0.3 and first[0][0]["crop_cy"] > 0.7  # the region: the left lane, near
    cfg.labels.region = None
    assert SAMPLERS["auto"].propose(data, space) == lasso


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["rf", "sparse"])
def test_search_with_strategy_and_constraints(query, tmp_path, sampler):
    over = ["search.constraints.max_fp=0.05", "search.constraints.max_fn=0.3"]
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", "8", "--sampler", sampler, *[a for o in over for a in ("--set", o)]]) == 0
    study = load_study(tmp_path / "mlruns")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 8  # sparse may leave further proposals waiting in the queue for a resume
    for t in study.best_trials:  # only feasible trials on the front
        assert t.user_attrs["val_fp"] <= 0.05 and t.user_attrs["val_fn"] <= 0.3
    assert all(set(t.constraints) == {"val_fn", "val_fp"} if isinstance(t.constraints, dict) else len(t.constraints) == 2 for t in done)


@pytest.mark.slow
def test_cell_mask_input_reads_exactly_its_cells(query, tmp_path):
    """A non-rectangular candidate: cost counts only the masked cells; retrain and export agree."""
    from autocrop.crops import Crop
    from autocrop.evaluation import Evaluator
    from autocrop.export import load_bundle, write_bundle
    from autocrop.heads import head_madds
    from autocrop.release import manifest_for
    from autocrop.space import TrialSpec

    cfg = load_config(query)
    data = prepare(cfg)
    ev = Evaluator(data, cfg)
    mask = ((5, 0), (6, 2), (7, 1))  # an L-ish set of cells on the 8x10 blocks.3.3 map
    spec = TrialSpec("blocks.3.3", Crop(0, 0.6, 0.3, 0.9), "logistic", {"l2": 1e-3}, mask)
    rec = ev.run([ev.job(spec, 0)])[0].record
    assert rec.input_shape == (64, 3, 1) and rec.cost_madds == head_madds("logistic", 64 * 3) == 192
    assert rec.input.mask == mask and rec.input.cells == (5, 8, 0, 3)
    fresh = ev.retrain(rec)
    assert fresh.record == rec
    b = load_bundle(write_bundle(tmp_path / "b", fresh.head, manifest_for(fresh.record, cfg, data, "s")))
    x = data.store.load("blocks.3.3")[:, :, [5, 6, 7], [0, 2, 1]].astype(np.float32)
    scores = b.scores(x)
    assert ((scores[data.splits["val"]] >= b.threshold)[data.y[data.splits["val"]] == 0]).mean() == pytest.approx(rec.val_fp)


@pytest.mark.slow
def test_two_layer_input_costs_both(query):
    from autocrop.crops import Crop
    from autocrop.evaluation import Evaluator
    from autocrop.space import TrialSpec

    cfg = load_config(query)
    ev = Evaluator(prepare(cfg), cfg)
    crop = Crop.from_cells((5, 8, 0, 3), 8, 10)  # blocks.3.3: 64 channels x 3 x 3
    spec = TrialSpec("blocks.3.3", crop, "logistic", {"l2": 1e-3}, None, (("blocks.5.2", (2, 4, 0, 2)),))  # + 160 x 2 x 2
    rec = ev.run([ev.job(spec, 0)])[0].record
    assert rec.cost_madds == 64 * 9 + 160 * 4
    assert rec.input.extra == (("blocks.5.2", (2, 4, 0, 2)),) and rec.input.layers == ("blocks.3.3", "blocks.5.2")
    assert ev.retrain(rec).record == rec
