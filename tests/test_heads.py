"""Contract tests run over every registered head (timm / Optuna style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autocrop.heads import HEADS, BatchedHead, head_madds, load_head, register_head, save_head
from autocrop.metrics import evaluate
from autocrop.train import Candidate, fit_heads

SHAPES = {"temporal": (2, 4, 3, 3)}  # window of 2 frames of a 4x3x3 crop
SMALL = {"mlp": {"hidden": 16}, "conv": {"filters": 4}, "temporal": {"hidden": 8, "window": 2}, "knn": {"k": 5}}


def _toy(shape: tuple[int, ...], n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    # the label depends on channel means (a pattern every head can represent, attention included)
    w = np.broadcast_to(rng.normal(size=shape[-3])[:, None, None], shape[-3:]).ravel()
    w = np.tile(w, d // w.size)
    xs, ys = {}, {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        x = rng.normal(size=(m, d)).astype(np.float32)
        xs[split], ys[split] = x, (x @ w + 0.5 * rng.normal(size=m) > 0.5).astype(np.int64)
    return xs, ys


def _cand(kind: str, seed: int = 0, **hp) -> tuple[Candidate, dict]:
    shape = SHAPES.get(kind, (4, 3, 3))
    xs, ys = _toy(shape)
    return Candidate(kind, {**SMALL.get(kind, {}), **hp}, seed, xs, shape), ys


def test_duplicate_head_name_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_head("svm")(type("Other", (BatchedHead,), {}))


def test_linear_madds_match_hand_count():
    # a linear head on a 64-channel 3x4 crop: one multiply-add per input
    assert head_madds("svm", (64, 3, 4)) == 768
    assert head_madds("logistic", 10) == 10
    assert head_madds("mlp", 100, {"hidden": 200}) == 100 * 200 + 200  # d*h + h
    # separable conv on 8x3x3 with 4 filters: depthwise 9*8*9 + pointwise 8*4*9 + dense 4*9
    assert head_madds("conv", (8, 3, 3), {"filters": 4}) == 9 * 8 * 9 + 8 * 4 * 9 + 4 * 9
    assert head_madds("knn", (4, 3, 3), {"k": 5}, n_train=100) == 36 * 100


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_head_contract_fit_predict_cost_save_load(kind, tmp_path):
    cand, ys = _cand(kind)
    head, scores, _ = fit_heads([cand], ys, max_steps=200)
    m = evaluate({s: v[0] for s, v in scores.items()}, ys, "balanced", 0.05)
    # it learned the toy problem (KNN in 36 dimensions from 240 samples is weaker, as expected)
    assert m["test_auc"] > (0.6 if kind == "knn" else 0.8), m
    assert head_madds(kind, cand.input_shape, head.hparams[0], n_train=240) > 0
    path = tmp_path / f"{kind}.safetensors"
    save_head(head.single(0), path)
    again = load_head(path)
    x = torch.from_numpy(cand.x["test"])[None]
    np.testing.assert_allclose(again(x)[0].detach().numpy(), scores["test"][0], atol=1e-5)


@pytest.mark.parametrize("kind", sorted(k for k in HEADS if HEADS[k].trainable))
def test_batched_training_equals_training_alone(kind):
    """K heads trained in one Lightning run = each trained alone with the same seed."""
    base, ys = _cand(kind)
    if HEADS[kind].spatial:  # stacked only with the same shape
        cands = [Candidate(kind, {**base.hparams, "l2": l2}, s, base.x, base.shape) for s, l2 in enumerate([1e-3, 1e-2, 1e-4])]
    else:  # flat heads stack across widths
        cands = [Candidate(kind, {**base.hparams, "l2": l2}, s, {k: v[:, :d] for k, v in base.x.items()}, (d,))
                 for s, (d, l2) in enumerate([(36, 1e-3), (12, 1e-2), (21, 1e-4)])]
    _, together, _ = fit_heads(cands, ys, max_steps=60, patience=1000)
    for k, cand in enumerate(cands):
        _, alone, _ = fit_heads([cand], ys, max_steps=60, patience=1000)
        np.testing.assert_allclose(alone["test"][0], together["test"][k], atol=2e-4)


def test_heads_of_mixed_kinds_cannot_share_a_run():
    a, ys = _cand("svm")
    b, _ = _cand("mlp")
    with pytest.raises(ValueError, match="one kind"):
        fit_heads([a, b], ys)


def test_spatial_heads_refuse_mixed_shapes():
    with pytest.raises(ValueError, match="share one input shape"):
        HEADS["conv"]([(4, 3, 3), (4, 2, 3)], [{}, {}], [0, 1])


def test_padded_inputs_do_not_change_outputs():
    head = HEADS["mlp"]([(3,), (5,)], [{"hidden": 4}, {"hidden": 4}], [1, 2])
    x = torch.randn(2, 7, 5)
    x[0, :, 3:] = 0  # head 0 reads 3 inputs: the rest is padding
    ref = head(x)
    head.w1.data[0, 3:] = 123.0  # weights on padding cannot matter
    assert torch.allclose(head(x), ref)
