"""Pick a trial for release: the cheapest Pareto trial meeting an FN/FP rule; and its manifest."""

from __future__ import annotations

from typing import Any

import optuna

from autocrop.config import Config
from autocrop.dataset import QueryData
from autocrop.errors import ConfigError
from autocrop.search import trial_records

__all__ = ["select_trial", "find_trial", "manifest_for"]


def select_trial(study: optuna.Study, max_fn: float, max_fp: float) -> dict[str, Any]:
    """Cheapest Pareto-optimal trial with val FN <= max_fn and val FP <= max_fp."""
    front = [dict(t.user_attrs) for t in study.best_trials]
    ok = [r for r in front if r["val_fn"] <= max_fn + 1e-12 and r["val_fp"] <= max_fp + 1e-12]
    if ok:
        return min(ok, key=lambda r: (r["cost_madds"], r["val_fn"], r["val_fp"]))
    if not front:
        raise ConfigError(f"study `{study.study_name}` has no complete trials; run `autocrop search` first")
    gap = lambda r: max(r["val_fn"] - max_fn, 0) + max(r["val_fp"] - max_fp, 0)  # noqa: E731
    near = min(front, key=gap)
    raise ConfigError(
        f"no Pareto trial of `{study.study_name}` has val FN <= {max_fn} and val FP <= {max_fp}; closest is trial "
        f"{near['number']} (val FN {near['val_fn']:.3f}, val FP {near['val_fp']:.3f}, {near['cost_madds']:,} MACs): "
        "loosen --max-fn/--max-fp or search longer"
    )


def find_trial(study: optuna.Study, number: int) -> dict[str, Any]:
    """A complete trial's record by number; negative numbers are the pooled baselines."""
    pool = trial_records(study) + list(study.user_attrs.get("baselines", []))
    for rec in pool:
        if rec["number"] == number:
            return rec
    raise ConfigError(f"study `{study.study_name}` has no complete trial {number}; see `autocrop report --all`")


def manifest_for(rec: dict[str, Any], cfg: Config, data: QueryData, study: str) -> dict[str, Any]:
    """Everything an edge node needs to reproduce this microclassifier's input and decision."""
    bb = data.backbone
    info = bb.layers()[rec["layer"]]
    return {
        "query": cfg.name,
        "study": study,
        "trial": rec["number"],
        "baseline": bool(rec.get("baseline")),
        "backbone": {
            "model": cfg.backbone.model,
            "kwargs": cfg.backbone.kwargs,
            "weights_digest": bb.weights_digest,
            "input_size": list(cfg.backbone.input_size),
            "mean": list(bb.mean),
            "std": list(bb.std),
            "preprocessing": bb.preprocessing,
        },
        "layer": rec["layer"],
        "layer_shape": [info.channels, info.height, info.width],
        "pooled": bool(rec.get("pooled")),
        "crop": rec["crop"],
        "cells": rec["cells"],
        "cell_mask": rec.get("cell_mask"),  # when set, the head reads exactly these (row, col) cells
        "extra_inputs": rec.get("extra_inputs", []),  # more (layer, cells) concatenated after the first
        "input_shape": rec["input_shape"],
        "head": {"kind": rec["head"], "hparams": rec["hparams"]},
        "threshold": rec["threshold"],
        "smoothing": {"k": cfg.search.smoothing.k, "n": cfg.search.smoothing.n},
        "cost_madds": rec["cost_madds"],
        "metrics": {k: rec[k] for k in ("val_fp", "val_fn", "test_fp", "test_fn", "val_auc", "test_auc") if k in rec},
    }
