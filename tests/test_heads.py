from __future__ import annotations

import numpy as np
import pytest
import torch

from autocrop.heads import HEADS, BatchedHead, head_madds, register_head
from autocrop.metrics import evaluate
from autocrop.train import Candidate, fit_heads

RNG = np.random.default_rng(0)


def _toy(d: int, n: int = 240):
    w = RNG.normal(size=d)
    xs, ys = {}, {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        x = RNG.normal(size=(m, d)).astype(np.float32)
        xs[split], ys[split] = x, (x @ w + RNG.normal(size=m) > 0.5).astype(np.int64)
    return xs, ys


def test_duplicate_head_name_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_head("svm")(type("Other", (BatchedHead,), {}))


def test_linear_madds_match_hand_count():
    # a linear head on a 64-channel 3x4 crop: one multiply-add per input
    assert head_madds("svm", 64 * 3 * 4) == 768
    assert head_madds("logistic", 10) == 10
    # MLP: d*h + h
    assert head_madds("mlp", 100, {"hidden": 200}) == 100 * 200 + 200


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_every_head_learns_a_separable_problem(kind):
    xs, ys = _toy(20)
    hp = {"hidden": 32} if kind == "mlp" else {}
    _, scores, _ = fit_heads([Candidate(kind, hp, 0, xs)], ys, max_steps=200)
    m = evaluate({s: v[0] for s, v in scores.items()}, ys, "balanced", 0.05)
    assert m["test_auc"] > 0.9, m


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_batched_training_equals_training_alone(kind):
    """K heads of different widths trained together = each trained alone with the same seed."""
    xs, ys = _toy(30)
    hp = {"hidden": 16} if kind == "mlp" else {}
    cands = [Candidate(kind, {**hp, "l2": l2}, seed, {s: x[:, :d] for s, x in xs.items()})
             for seed, (d, l2) in enumerate([(30, 1e-3), (12, 1e-2), (21, 1e-4)])]
    _, together, _ = fit_heads(cands, ys, max_steps=80, patience=1000)
    for k, cand in enumerate(cands):
        _, alone, _ = fit_heads([cand], ys, max_steps=80, patience=1000)
        np.testing.assert_allclose(alone["test"][0], together["test"][k], atol=1e-4)


def test_heads_of_mixed_kinds_cannot_share_a_run():
    xs, ys = _toy(5)
    with pytest.raises(ValueError, match="one kind"):
        fit_heads([Candidate("svm", {}, 0, xs), Candidate("mlp", {}, 0, xs)], ys)


def test_padded_inputs_do_not_change_outputs():
    head = HEADS["mlp"]([3, 5], [{"hidden": 4}, {"hidden": 4}], [1, 2])
    x = torch.randn(2, 7, 5)
    x[0, :, 3:] = 0
    ref = head(x)
    x[0, :, 3:] = 0  # padded columns are zero by construction
    head.w1.data[0, 3:] = 123.0  # weights on padding cannot matter
    assert torch.allclose(head(x), ref)
