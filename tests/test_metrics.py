from __future__ import annotations

import numpy as np
import pytest

from autocrop.metrics import choose_threshold, evaluate, rates


def test_rates():
    y = np.array([0, 0, 0, 0, 1, 1])
    assert rates(y, np.array([1, 0, 0, 0, 0, 1])) == (0.25, 0.5)


def test_threshold_rules():
    y = np.array([0] * 10 + [1] * 10)
    scores = np.r_[np.linspace(0, 0.9, 10), np.linspace(0.5, 1.4, 10)]
    t = choose_threshold(scores, y, "max_fp", 0.1)
    fp, fn = rates(y, scores >= t)
    assert fp == pytest.approx(0.1) and fn == pytest.approx(0.4)  # threshold 0.9: one negative, six positives above
    t = choose_threshold(scores, y, "max_fn", 0.0)
    fp, fn = rates(y, scores >= t)
    assert fn == 0 and fp == pytest.approx(0.5)
    with pytest.raises(ValueError, match="`rule` must be one of"):
        choose_threshold(scores, y, "best", 0)


def test_evaluate_uses_the_val_threshold_on_test():
    ys = {"val": np.array([0, 0, 1, 1]), "test": np.array([0, 1, 1, 1])}
    scores = {"val": np.array([0.1, 0.2, 0.8, 0.9]), "test": np.array([0.3, 0.4, 0.85, 0.95])}
    m = evaluate(scores, ys, "balanced", 0.05)
    assert m["val_fp"] == 0 and m["val_fn"] == 0
    assert m["test_fn"] == pytest.approx(1 / 3) and m["test_fp"] == 0


def test_k_of_n_smoothing_is_causal():
    from autocrop.metrics import smooth_k_of_n

    pred = np.array([0, 1, 0, 1, 1, 0, 0, 0, 1, 0])
    assert smooth_k_of_n(pred, 2, 3).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert smooth_k_of_n(pred, 1, 1).tolist() == pred.tolist()
    with pytest.raises(ValueError, match="k <= n"):
        smooth_k_of_n(pred, 4, 3)


def test_event_metrics():
    from autocrop.metrics import event_metrics, events

    y = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])
    assert events(y) == [(1, 4), (6, 8)]
    pred = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 0])  # hits event 1 only, one false alarm
    m = event_metrics(y, pred)
    assert m["event_recall"] == 0.5 and m["frame_precision"] == 0.5 and m["event_f1"] == pytest.approx(0.5)
    assert m["events"] == 2


def test_per_block_threshold_holds_the_target_in_every_block():
    """Block 0's negatives score high: overall FP 1/20 passes at a low threshold, but block 0 alone
    (1 of 5 negatives) does not, so the per-block threshold is stricter; never looser."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(5), np.ones(5), np.zeros(15), np.ones(5)].astype(int)
    blocks = np.r_[np.zeros(10), np.ones(20)].astype(int)
    scores = np.r_[[0.6, 0.1, 0.1, 0.1, 0.1], rng.uniform(0.5, 1, 5), rng.uniform(0, 0.3, 15), rng.uniform(0.5, 1, 5)]
    overall = choose_threshold(scores, y, "max_fp", 0.05)
    per_block = choose_threshold(scores, y, "max_fp", 0.05, blocks)
    assert overall <= 0.6 < per_block
    for b in (0, 1):
        neg = scores[(blocks == b) & (y == 0)]
        assert (neg >= per_block).mean() <= 0.05
    assert choose_threshold(scores, y, "max_fn", 0.0, blocks) <= scores[y == 1].min()


def test_reserve_keeps_error_frames_in_hand_per_block():
    """40 negatives per block at target 0.05 allow 2 FP frames each; a reserve of 1 allows 1, and
    a block too small to afford its reserve allows none (the threshold is then above its negatives)."""
    rng = np.random.default_rng(1)
    neg = np.sort(rng.uniform(0, 1, 40))
    scores = np.r_[neg, rng.uniform(0.9, 1, 10)]
    y = np.r_[np.zeros(40), np.ones(10)].astype(int)
    fp = [(neg >= choose_threshold(scores, y, "max_fp", 0.05, reserve=r)).sum() for r in (0, 1, 2, 3)]
    assert fp == [2, 1, 0, 0]
    blocks = np.r_[np.zeros(30), np.ones(10), np.zeros(10)].astype(int)  # block 1: the 10 highest negatives only
    assert (neg >= choose_threshold(scores, y, "max_fp", 0.05, blocks, reserve=0)).sum() == 0  # floor(0.5) = 0 allowed
    assert (neg >= choose_threshold(scores, y, "max_fp", 0.2, blocks, reserve=1)).sum() == 1  # block 1: 2 - 1 allowed
