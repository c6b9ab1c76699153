"""FP/FN rates, the validation operating point, and the metrics logged for every candidate."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

PLATT_C = 100.0  # inverse L2 strength of the fit of labels on standardized scores (1 and 10: too strict on few labels; 1e4: FP over target)

__all__ = ["rates", "choose_threshold", "class_probability", "estimated_rates", "evaluate", "smooth_k_of_n", "events", "event_metrics"]


def rates(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(false-positive rate, false-negative rate) of 0/1 predictions."""
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return float(fp / max(fp + tn, 1)), float(fn / max(fn + tp, 1))


def choose_threshold(scores: np.ndarray, y: np.ndarray, rule: str = "max_fp", target: float = 0.05,
                     blocks: np.ndarray | None = None, reserve: int = 0, unlabelled: np.ndarray | None = None,
                     unlabelled_blocks: np.ndarray | None = None) -> float:
    """Score threshold (predict positive when score >= it) on validation data.

    max_fp: fewest false negatives with FP rate <= target; max_fn: fewest false positives with
    FN rate <= target; balanced: largest TPR - FPR (Youden's J). With `blocks` (a block id per
    frame: the contiguous time blocks of the validation split), the target must hold in every
    block, not only on their union: frames of one passage are not independent, and a threshold
    that a few passages of one block decide does not carry over to other footage. `reserve`
    keeps that many of each block's allowed error frames unused (a margin from the counts: it
    matters where a block allows few errors, and fades as blocks grow).

    `unlabelled` (scores of the validation frames not labelled yet; their blocks in
    `unlabelled_blocks`): for max_fp and max_fn, each counts as a fraction of a frame of each
    class, its probability from `class_probability`. The rates are then estimates over the whole
    validation block, not over its labelled frames alone: a few labelled negatives no longer
    decide the threshold (above the highest of 4 random negatives is a 20 % FP rate), and
    labels picked by score do not bias it, since a fit of labels on scores is not biased by
    choosing frames by score. A block is estimated so only once it holds a labelled frame of each
    class (until then, its labelled frames alone), and its reserve comes off the estimated count
    of allowed errors as it is, not rounded down first: an estimate has no whole error frames,
    and rounding on top of the reserve allowed about 1 error in 57 negatives (BENCHMARKS.md).
    """
    if rule == "balanced":
        fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=False)
        return float(min(thr[int(np.argmax(tpr - fpr))], np.finfo(np.float32).max))
    if rule not in ("max_fp", "max_fn"):
        raise ValueError(f"`rule` must be one of max_fp, max_fn, balanced, but got {rule!r}.")
    cls = 0 if rule == "max_fp" else 1  # the class whose error rate is bounded
    unl = np.zeros(0) if unlabelled is None else np.asarray(unlabelled, dtype=np.float64)
    p = class_probability(scores, y, unl)
    w = 1 - p if cls == 0 else p  # each unlabelled frame's share of the bounded class
    thr = np.r_[np.inf, np.unique(np.r_[scores, unl])[::-1]]  # descending, as roc_curve: ties go to the higher threshold
    if blocks is None or (len(unl) and unlabelled_blocks is None):
        blocks, unlabelled_blocks = np.zeros(len(scores), int), np.zeros(len(unl), int)
    ub = np.zeros(0, int) if unlabelled_blocks is None else unlabelled_blocks
    worst = np.zeros(len(thr))  # the largest error rate of any block, for ties
    ok = np.ones(len(thr), bool)
    for b in np.union1d(blocks, ub):
        s, su = scores[(blocks == b) & (y == cls)], unl[ub == b]
        estimate = len(su) > 0 and len(np.unique(y[blocks == b])) == 2  # a block holding labelled frames of both classes
        n = len(s) + (float(w[ub == b].sum()) if estimate else 0.0)
        if n <= 0:
            continue
        errors = _errors_at(s, thr, cls)
        if estimate:  # estimated counts: the reserve comes off the allowed count as it is
            errors = errors + _weighted_errors_at(su, w[ub == b], thr, cls)
            allowed = max(target * n - reserve, 0.0)
        else:
            allowed = max(int(np.floor(target * n + 1e-9)) - reserve, 0)
        ok &= errors <= allowed + 1e-9
        worst = np.maximum(worst, errors / n)
    other = _rates(scores, y, unl, p, thr)[1 - cls]
    best = np.flatnonzero(ok)[np.lexsort((worst[ok], other[ok]))[0]]
    return float(min(thr[best], np.finfo(np.float32).max))


def class_probability(scores: np.ndarray, y: np.ndarray, unlabelled: np.ndarray) -> np.ndarray:
    """P(positive | score) for each unlabelled score: a logistic fit of the labelled frames'
    labels on their standardized scores (Platt scaling, L2-regularized so that a handful of
    separable labels gives a finite slope); the Laplace share of positives when they hold one
    class only."""
    if not len(unlabelled):
        return np.zeros(0)
    k, n = int(y.sum()), len(y)
    if k == 0 or k == n:
        return np.full(len(unlabelled), (k + 1) / (n + 2))
    mu, sd = float(scores.mean()), float(scores.std()) or 1.0
    fit = LogisticRegression(C=PLATT_C).fit(((scores - mu) / sd)[:, None], y)
    return fit.predict_proba(((unlabelled - mu) / sd)[:, None])[:, 1]


def _weighted_errors_at(s: np.ndarray, w: np.ndarray, thresholds: np.ndarray, cls: int) -> np.ndarray:
    """`_errors_at` with a weight per frame: the weight of those at or above each threshold (cls
    0), or below it (cls 1)."""
    order = np.argsort(s)
    cum = np.r_[0.0, np.cumsum(w[order])]
    below = cum[np.searchsorted(s[order], thresholds, side="left")]
    return cum[-1] - below if cls == 0 else below


def _rates(scores: np.ndarray, y: np.ndarray, unlabelled: np.ndarray, p: np.ndarray,
           thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FP rate, FN rate) at each threshold over labelled and unlabelled frames, each unlabelled
    one a fraction p of a positive and 1 - p of a negative."""
    neg, pos = scores[y == 0], scores[y == 1]
    fp = _errors_at(neg, thresholds, 0) + _weighted_errors_at(unlabelled, 1 - p, thresholds, 0)
    fn = _errors_at(pos, thresholds, 1) + _weighted_errors_at(unlabelled, p, thresholds, 1)
    return fp / max(len(neg) + float((1 - p).sum()), 1e-12), fn / max(len(pos) + float(p.sum()), 1e-12)


def estimated_rates(scores: np.ndarray, y: np.ndarray, unlabelled: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FP rate, FN rate) at `threshold` over the whole validation block: labelled frames by
    their labels, unlabelled ones by `class_probability`."""
    fp, fn = _rates(scores, y, unlabelled, class_probability(scores, y, unlabelled), np.array([threshold]))
    return float(fp[0]), float(fn[0])


def _errors_at(s: np.ndarray, thresholds: np.ndarray, cls: int) -> np.ndarray:
    """Error frames of one class's scores at each threshold: negatives at or above it (cls 0),
    or positives below it (cls 1)."""
    below = np.searchsorted(np.sort(s), thresholds, side="left")  # scores < threshold
    return len(s) - below if cls == 0 else below


def evaluate(
    scores: dict[str, np.ndarray], ys: dict[str, np.ndarray], rule: str, target: float, smoothing: tuple[int, int] = (1, 1),
    val_blocks: np.ndarray | None = None, reserve: int = 0, unlabelled_blocks: np.ndarray | None = None,
) -> dict[str, float]:
    """Threshold on `val` (the target held in each of `val_blocks`, when given), then frame
    FP/FN/accuracy/AUC for every split in `scores`, and on val/test the event metrics after k-of-n
    smoothing (`smooth_fp`, `smooth_fn`, `event_*`). `scores["val_unlabelled"]`, when given, are
    the unlabelled validation frames' (see `choose_threshold`): val FP and FN are then the
    estimates over the whole validation block (`estimated_rates`)."""
    unl = scores.get("val_unlabelled")
    unl = None if unl is None or not len(unl) else unl
    threshold = choose_threshold(scores["val"], ys["val"], rule, target, val_blocks, reserve, unl, unlabelled_blocks)
    out: dict[str, float] = {"threshold": threshold}
    for split, s in scores.items():
        if split == "val_unlabelled":
            continue
        y = ys[split]
        pred = (s >= threshold).astype(int)
        fp, fn = rates(y, pred)
        out[f"{split}_fp"], out[f"{split}_fn"] = fp, fn
        out[f"{split}_acc"] = float((pred == y).mean())
        out[f"{split}_auc"] = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
        if split != "train":
            smooth = smooth_k_of_n(pred, *smoothing)
            out[f"{split}_smooth_fp"], out[f"{split}_smooth_fn"] = rates(y, smooth)
            out |= {f"{split}_{k}": v for k, v in event_metrics(y, smooth).items()}
    if unl is not None and rule != "balanced":
        out["val_fp"], out["val_fn"] = estimated_rates(scores["val"], ys["val"], unl, threshold)
    return out


def smooth_k_of_n(pred: np.ndarray, k: int, n: int) -> np.ndarray:
    """Frame t is positive when at least k of frames t-n+1..t are (causal, as on a live stream)."""
    if not 1 <= k <= n:
        raise ValueError(f"`1 <= k <= n` must hold, but got ({k=}, {n=}).")
    counts = np.convolve(np.asarray(pred, dtype=int), np.ones(n, dtype=int))[: len(pred)]
    return (counts >= k).astype(int)


def events(y: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of consecutive positive frames."""
    padded = np.r_[0, np.asarray(y, dtype=int), 0]
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def event_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Event recall (share of true events with at least one positive frame), frame precision, event F1."""
    truth = events(y)
    hit = sum(bool(pred[a:b].any()) for a, b in truth)
    recall = hit / len(truth) if truth else float("nan")
    precision = float((pred & y).sum() / pred.sum()) if pred.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"event_recall": float(recall), "frame_precision": precision, "event_f1": float(f1), "events": float(len(truth))}
