from __future__ import annotations

import numpy as np
import pytest

from autocrop.metrics import choose_threshold, class_probability, estimated_rates, evaluate, rates


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



def _blocks(seed, n=3, n_neg=160, n_pos=60):
    """Validation blocks: negatives N(0, 1), positives N(3, 1) (a logistic posterior, as Platt assumes)."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([np.r_[rng.normal(0, 1, n_neg), rng.normal(3, 1, n_pos)] for _ in range(n)])
    y = np.tile(np.r_[np.zeros(n_neg), np.ones(n_pos)], n).astype(int)
    return rng, scores, y, np.repeat(np.arange(n), n_neg + n_pos)


def _true_rates(scores, y, t):
    return float((scores[y == 0] >= t).mean()), float((scores[y == 1] < t).mean())


def _labelled(rng, scores, blocks, design):
    lab = np.zeros(len(scores), bool)
    for b in np.unique(blocks):
        g = np.flatnonzero(blocks == b)
        if design == "top":  # label-next: the highest-scoring frames, and a few at random
            lab[g[np.argsort(-scores[g])[:40]]] = True
            lab[rng.choice(g[~lab[g]], 15, replace=False)] = True
        else:
            lab[rng.choice(g, 55, replace=False)] = True
    return lab


@pytest.mark.parametrize("design", ["top", "random"])
def test_unlabelled_validation_frames_count_by_their_class_probability(design):
    """A quarter of each block labelled, the top-scoring frames or at random. The labelled frames'
    rule alone sees a biased or small set of negatives (fewer than 40 a block: it allows no false
    positive); counting the unlabelled frames by their estimated class gets near the threshold
    all labels give, and holds the target (over 10 footages: on average, and within 0.015 on
    each)."""
    out = []
    for seed in range(10):
        rng, scores, y, blocks = _blocks(seed)
        lab = _labelled(rng, scores, blocks, design)
        full = choose_threshold(scores, y, "max_fp", 0.05, blocks, reserve=1)
        alone = choose_threshold(scores[lab], y[lab], "max_fp", 0.05, blocks[lab], reserve=1)
        est = choose_threshold(scores[lab], y[lab], "max_fp", 0.05, blocks[lab], 1, scores[~lab], blocks[~lab])
        out.append([*_true_rates(scores, y, full), *_true_rates(scores, y, alone), *_true_rates(scores, y, est)])
    full_fp, full_fn, alone_fp, alone_fn, fp, fn = np.array(out).T
    assert fp.mean() <= 0.05 and fp.max() <= 0.065  # the target on average, and each footage within the estimate's error
    assert fn.mean() <= full_fn.mean() + 0.03 < alone_fn.mean() - 0.05


def test_a_block_is_estimated_only_once_it_holds_a_labelled_frame_of_each_class():
    """Block 1 has labelled negatives only: its unlabelled frames are not counted (moved just
    above the threshold, they stay above it: no error), while block 0's, with both classes
    labelled, are (moved there, they count as part negatives and push it above them)."""
    rng, scores, y, blocks = _blocks(3, n=2)
    lab = _labelled(rng, scores, blocks, "random") & ~((blocks == 1) & (y == 1))
    s, yl, bl, unl, ub = scores[lab], y[lab], blocks[lab], scores[~lab], blocks[~lab]
    t = choose_threshold(s, yl, "max_fp", 0.05, bl, 1, unl, ub)
    for b, moves in ((1, False), (0, True)):
        moved = np.where(ub == b, t + 0.01, unl)
        assert (choose_threshold(s, yl, "max_fp", 0.05, bl, 1, moved, ub) > t + 0.01) is moves


def test_class_probability_is_finite_on_separable_labels_and_a_share_on_one_class():
    s, y = np.array([0.0, 0.1, 0.9, 1.0]), np.array([0, 0, 1, 1])
    p = class_probability(s, y, np.array([-1.0, 0.5, 2.0]))
    assert 0 < p[0] < p[1] < p[2] < 1 and np.isclose(p[1], 0.5, atol=0.05)
    assert class_probability(s, np.zeros(4, int), np.array([3.0])).tolist() == [1 / 6]
    assert class_probability(s, y, np.array([])).shape == (0,)


def test_max_fn_counts_unlabelled_frames_too_and_evaluate_reports_the_estimates():
    rng, scores, y, blocks = _blocks(6)
    lab = rng.permutation(len(y)) < len(y) // 3
    t = choose_threshold(scores[lab], y[lab], "max_fn", 0.1, blocks[lab], 1, scores[~lab], blocks[~lab])
    assert _true_rates(scores, y, t)[1] <= 0.1 + 0.02
    ys = {"train": y[lab], "val": y[lab]}
    m = evaluate({"train": scores[lab], "val": scores[lab], "val_unlabelled": scores[~lab]}, ys, "max_fp", 0.05, (1, 1),
                 blocks[lab], 1, blocks[~lab])
    assert m["threshold"] == choose_threshold(scores[lab], y[lab], "max_fp", 0.05, blocks[lab], 1, scores[~lab], blocks[~lab])
    assert (m["val_fp"], m["val_fn"]) == estimated_rates(scores[lab], y[lab], scores[~lab], m["threshold"])
    assert m["val_fp"] <= 0.05 and "val_unlabelled_fp" not in m
