"""Figures people would rather look at than read: Pareto fronts, hypervolume, crops on a frame, ROC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from autocrop.records import TrialRecord  # noqa: E402
from autocrop.selection import ranked  # noqa: E402

if TYPE_CHECKING:
    import optuna

    from autocrop.dataset import QueryData

__all__ = ["hypervolume", "hypervolume_history", "study_figures", "trial_figures", "COST_REF"]

COST_REF = 1e8  # multiply-adds: the hypervolume reference (a head costing more scores nothing)


def _normalized(recs: list[TrialRecord]) -> np.ndarray:
    """(log10 cost / log10 COST_REF, val FP, val FN) per record: every axis in [0, 1]."""
    return np.array([[np.log10(max(r.cost_madds, 1)) / np.log10(COST_REF), r.val_fp, r.val_fn] for r in recs])


def hypervolume(recs: list[TrialRecord]) -> float:
    """Dominated volume of (log cost, val FP, val FN) below the reference (1, 1, 1); 1 is perfect."""
    from optuna._hypervolume import compute_hypervolume  # Optuna's own WFG implementation

    if not recs:
        return 0.0
    pts = np.clip(_normalized(recs), 0, 1)
    return float(compute_hypervolume(pts, np.ones(3)))


def hypervolume_history(recs: list[TrialRecord]) -> list[float]:
    ordered = sorted(recs, key=lambda r: r.number)
    return [hypervolume(ordered[: i + 1]) for i in range(len(ordered))]


def _frame(data: QueryData) -> np.ndarray:
    """A representative frame: the middle positive frame of the validation block."""
    rows = data.splits["val"]
    pos = rows[data.y[rows] == 1]
    row = int(pos[len(pos) // 2]) if len(pos) else int(rows[len(rows) // 2])
    return next(data.source.frames([int(data.ids[row])]))[1]


def _draw_crop(ax: Any, crop: list[float], shape: tuple[int, ...], color: str, label: str | None) -> None:
    h, w = shape[:2]
    x0, y0, x1, y1 = crop
    ax.add_patch(Rectangle((x0 * w, y0 * h), (x1 - x0) * w, (y1 - y0) * h, fill=False, lw=2, ec=color))
    if label:
        ax.text(x0 * w + 2, y0 * h + 10, label, color=color, fontsize=8, weight="bold")


def _region(ax: Any, data: QueryData) -> None:
    if data.cfg.labels.region:
        ax.add_patch(Polygon(data.cfg.labels.region, closed=True, fill=False, ls="--", lw=1.5, ec="white"))


def study_figures(study: optuna.Study, data: QueryData, target: float) -> dict[str, Figure]:
    from autocrop.study import baseline_records, pareto_numbers, trial_records

    recs = trial_records(study)
    front = pareto_numbers(study)
    base = baseline_records(study)
    figs: dict[str, Figure] = {}

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key in zip(axes, ("val_fn", "val_fp"), strict=True):
        ax.scatter([r.cost_madds for r in recs], [r.metrics[key] for r in recs], s=14, c="0.7", label="trial")
        fr = sorted((r for r in recs if r.number in front), key=lambda r: r.cost_madds)
        ax.scatter([r.cost_madds for r in fr], [r.metrics[key] for r in fr], s=28, c="tab:red", label="Pareto front")
        for b in base:
            ax.scatter(b.cost_madds, b.metrics[key], marker="*", s=160, c="tab:blue", edgecolors="k", zorder=5)
            ax.annotate(f"pooled {b.head}", (b.cost_madds, b.metrics[key]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("head cost (multiply-adds)")
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle(f"{study.study_name}: cost vs validation error (threshold at val FP <= {target:.0%}); stars = pooled baseline")
    fig.tight_layout()
    figs["pareto.png"] = fig

    hist = hypervolume_history(recs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(range(1, len(hist) + 1), hist, marker=".")
    ax.set_xlabel("trials")
    ax.set_ylabel("hypervolume (log cost, FP, FN)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs["hypervolume.png"] = fig

    frame = _frame(data)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.imshow(frame)
    _region(ax, data)
    best = ranked([r for r in recs if r.number in front], target)[:5]
    for r, color in zip(best, ("red", "orange", "yellow", "lime", "cyan"), strict=False):
        _draw_crop(ax, r.crop, frame.shape, color, f"#{r.number} {r.layer} FN {r.val_fn:.2f}")
    ax.set_axis_off()
    ax.set_title("best Pareto crops (dashed: query region)")
    fig.tight_layout()
    figs["best_crops.png"] = fig
    return figs


def trial_figures(rec: TrialRecord, val_scores: np.ndarray, y_val: np.ndarray, data: QueryData) -> dict[str, Figure]:
    frame = _frame(data)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].imshow(frame)
    _region(axes[0], data)
    _draw_crop(axes[0], rec.crop, frame.shape, "red", f"{rec.layer} cells {list(rec.input.cells)} ({rec.input.kind})")
    axes[0].set_axis_off()
    fpr, tpr, _ = roc_curve(y_val, val_scores)
    axes[1].plot(fpr, tpr)
    axes[1].plot([rec.val_fp], [1 - rec.val_fn], "o", c="red", label="operating point")
    axes[1].set_xlabel("val FP rate")
    axes[1].set_ylabel("val TP rate")
    axes[1].set_title(f"ROC (AUC {rec.metrics.get('val_auc', float('nan')):.3f})")
    axes[1].legend(loc="lower right")
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    return {"crop_roc.png": fig}
