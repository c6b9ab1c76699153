"""FP/FN rates, the validation operating point, and the metrics logged for every candidate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

__all__ = ["rates", "choose_threshold", "evaluate", "smooth_k_of_n", "events", "event_metrics"]


def rates(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(false-positive rate, false-negative rate) of 0/1 predictions."""
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return float(fp / max(fp + tn, 1)), float(fn / max(fn + tp, 1))


def choose_threshold(scores: np.ndarray, y: np.ndarray, rule: str = "max_fp", target: float = 0.05,
                     blocks: np.ndarray | None = None, reserve: int = 0) -> float:
    """Score threshold (predict positive when score >= it) on validation data.

    max_fp: fewest false negatives with FP rate <= target; max_fn: fewest false positives with
    FN rate <= target; balanced: largest TPR - FPR (Youden's J). With `blocks` (a block id per
    frame: the contiguous time blocks of the validation split), the target must hold in every
    block, not only on their union: frames of one passage are not independent, and a threshold
    that a few passages of one block decide does not carry over to other footage. `reserve`
    keeps that many of each block's allowed error frames unused (a margin from the counts: it
    matters where a block allows few errors, and fades as blocks grow).
    """
    fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=False)
    fnr = 1 - tpr
    if rule in ("max_fp", "max_fn"):
        cls = 0 if rule == "max_fp" else 1  # the class whose error rate is bounded
        groups = [np.ones(len(y), bool)] if blocks is None else [blocks == b for b in np.unique(blocks)]
        worst = np.zeros(len(thr))  # the largest error rate of any block, for ties
        ok = np.ones(len(thr), bool)
        for g in groups:
            s = scores[g & (y == cls)]
            if len(s) == 0:
                continue
            errors = _errors_at(s, thr, cls)
            allowed = max(int(np.floor(target * len(s) + 1e-9)) - reserve, 0)
            ok &= errors <= allowed
            worst = np.maximum(worst, errors / len(s))
        other = fnr if rule == "max_fp" else fpr
        best = np.flatnonzero(ok)[np.lexsort((worst[ok], other[ok]))[0]]
    elif rule == "balanced":
        best = int(np.argmax(tpr - fpr))
    else:
        raise ValueError(f"`rule` must be one of max_fp, max_fn, balanced, but got {rule!r}.")
    return float(min(thr[best], np.finfo(np.float32).max))


def _errors_at(s: np.ndarray, thresholds: np.ndarray, cls: int) -> np.ndarray:
    """Error frames of one class's scores at each threshold: negatives at or above it (cls 0),
    or positives below it (cls 1)."""
    below = np.searchsorted(np.sort(s), thresholds, side="left")  # scores < threshold
    return len(s) - below if cls == 0 else below


def evaluate(
    scores: dict[str, np.ndarray], ys: dict[str, np.ndarray], rule: str, target: float, smoothing: tuple[int, int] = (1, 1),
    val_blocks: np.ndarray | None = None, reserve: int = 0,
) -> dict[str, float]:
    """Threshold on `val` (the target held in each of `val_blocks`, when given), then frame
    FP/FN/accuracy/AUC for every split in `scores`, and on val/test the event metrics after k-of-n
    smoothing (`smooth_fp`, `smooth_fn`, `event_*`)."""
    threshold = choose_threshold(scores["val"], ys["val"], rule, target, val_blocks, reserve)
    out: dict[str, float] = {"threshold": threshold}
    for split, s in scores.items():
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
