"""FP/FN rates, the validation operating point, and the metrics logged for every candidate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

__all__ = ["rates", "choose_threshold", "evaluate"]


def rates(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(false-positive rate, false-negative rate) of 0/1 predictions."""
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return float(fp / max(fp + tn, 1)), float(fn / max(fn + tp, 1))


def choose_threshold(scores: np.ndarray, y: np.ndarray, rule: str = "max_fp", target: float = 0.05) -> float:
    """Score threshold (predict positive when score >= it) on validation data.

    max_fp: fewest false negatives with FP rate <= target; max_fn: fewest false positives with
    FN rate <= target; balanced: largest TPR - FPR (Youden's J).
    """
    fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=False)
    fnr = 1 - tpr
    if rule == "max_fp":
        ok = fpr <= target + 1e-12
        best = np.flatnonzero(ok)[np.lexsort((fpr[ok], fnr[ok]))[0]]
    elif rule == "max_fn":
        ok = fnr <= target + 1e-12
        best = np.flatnonzero(ok)[np.lexsort((fnr[ok], fpr[ok]))[0]]
    elif rule == "balanced":
        best = int(np.argmax(tpr - fpr))
    else:
        raise ValueError(f"`rule` must be one of max_fp, max_fn, balanced, but got {rule!r}.")
    return float(min(thr[best], np.finfo(np.float32).max))


def evaluate(scores: dict[str, np.ndarray], ys: dict[str, np.ndarray], rule: str, target: float) -> dict[str, float]:
    """Threshold on `val`, then FP/FN/accuracy/AUC for every split in `scores`."""
    threshold = choose_threshold(scores["val"], ys["val"], rule, target)
    out: dict[str, float] = {"threshold": threshold}
    for split, s in scores.items():
        y = ys[split]
        pred = (s >= threshold).astype(int)
        fp, fn = rates(y, pred)
        out[f"{split}_fp"], out[f"{split}_fn"] = fp, fn
        out[f"{split}_acc"] = float((pred == y).mean())
        out[f"{split}_auc"] = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
    return out
