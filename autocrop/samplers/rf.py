"""Receptive-field-guided crops: sample around the feature cells whose fields cover the query's ROI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial

from autocrop.crops import CENTER_PARAMS, SIZE_PARAMS
from autocrop.defaults import RF_EXPLORE, RF_SPREAD
from autocrop.errors import ConfigError
from autocrop.samplers.paper import PaperSampler
from autocrop.samplers.sparse import proposal_params

__all__ = ["ReceptiveFieldSampler", "roi_proposals", "roi_targets", "rf_context"]

CropTarget = dict[str, float]  # crop_cx, crop_cy, crop_w, crop_h


def roi_targets(fields: dict, infos: dict, layers: Sequence[str], roi: Sequence[tuple[float, float]],
                frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> dict[str, CropTarget]:
    """Per layer, the normalized box of the cells whose receptive-field centres fall in the ROI's
    bounding box (the nearest cell if none does)."""
    xs, ys = [p[0] for p in roi], [p[1] for p in roi]
    sy, sx = input_hw[0] / frame_hw[0], input_hw[1] / frame_hw[1]
    x0, x1, y0, y1 = min(xs) * sx, max(xs) * sx, min(ys) * sy, max(ys) * sy
    out = {}
    for layer in layers:
        rf, info = fields[layer], infos[layer]
        rows = [r for r in range(info.height) if y0 <= rf.center(r, 0)[0] <= y1]
        cols = [c for c in range(info.width) if x0 <= rf.center(0, c)[1] <= x1]
        if not rows:
            rows = [min(range(info.height), key=lambda r: abs(rf.center(r, 0)[0] - (y0 + y1) / 2))]
        if not cols:
            cols = [min(range(info.width), key=lambda c: abs(rf.center(0, c)[1] - (x0 + x1) / 2))]
        r0, r1, c0, c1 = min(rows), max(rows) + 1, min(cols), max(cols) + 1
        out[layer] = {"crop_cx": (c0 + c1) / 2 / info.width, "crop_cy": (r0 + r1) / 2 / info.height,
                      "crop_w": (c1 - c0) / info.width, "crop_h": (r1 - r0) / info.height}
    return out


def rf_context(cfg: Any, data: Any, space: Any) -> dict[str, Any]:
    """The sampler's crop targets: the cells whose receptive fields cover `search.roi` (default `labels.region`)."""
    from autocrop.receptive import receptive_fields

    roi = cfg.search.roi or cfg.labels.region
    if not roi:
        raise ConfigError(f"{cfg.source_path}: sampler `rf` needs a region of interest: set `search.roi` or `labels.region` (pixels)")
    frame_hw = data.source.first_frame().shape[:2]
    targets = roi_targets(receptive_fields(data.backbone), data.backbone.layers(), space.layers, roi,
                          frame_hw, tuple(cfg.backbone.input_size))
    return {"targets": targets}


def roi_proposals(data: Any, space: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(params, user attrs) to enqueue: on each layer, the cells whose receptive fields cover the
    query's region (no label needed), read by the proposals' head. On few labels these are the
    inputs a search can trust most: label-derived crops and the choice among them are noisy there
    (BENCHMARKS, "the search reads the query region's cells first")."""
    return [(proposal_params(space, layer, {k: t[k] for k in (*CENTER_PARAMS, *SIZE_PARAMS)}), {})
            for layer, t in rf_context(data.cfg, data, space)["targets"].items()]


class ReceptiveFieldSampler(BaseSampler):
    """Crop parameters ~ N(target, spread x target size) around the ROI's cells on the trial's
    layer; with probability `explore` a trial takes the paper's random crop instead. Layer, head
    and hyper-parameters come from Optuna's (independent) TPE."""

    def __init__(self, targets: dict[str, CropTarget], seed: int | None = None, explore: float = RF_EXPLORE, spread: float = RF_SPREAD):
        if not targets:
            raise ConfigError("sampler `rf` needs a region of interest: set `search.roi` or `labels.region` (pixels)")
        self._targets, self._seed, self._explore, self._spread = targets, seed, explore, spread
        self._paper = PaperSampler(seed=seed)
        self._tpe = TPESampler(seed=seed, n_startup_trials=10)

    def reseed_rng(self) -> None:
        self._paper.reseed_rng()
        self._tpe.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def _rng(self, trial: FrozenTrial, name: str) -> np.random.RandomState:
        """One stream per (seed, trial, param): reproducible whatever order trials are asked in."""
        return np.random.RandomState([self._seed or 0, trial.number, sum(map(ord, name))])

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        crop = param_name in (*CENTER_PARAMS, *SIZE_PARAMS)
        if not crop or not isinstance(param_distribution, FloatDistribution):
            return self._tpe.sample_independent(study, trial, param_name, param_distribution)
        target = self._targets.get(trial.params.get("layer"))
        explore = self._rng(trial, "explore").rand() < self._explore
        if target is None or explore:
            return self._paper.sample_independent(study, trial, param_name, param_distribution)
        scale = target["crop_w" if param_name in ("crop_cx", "crop_w") else "crop_h"]
        value = target[param_name] + self._rng(trial, param_name).normal(0, self._spread * scale)
        return float(np.clip(value, param_distribution.low, param_distribution.high))

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        self._tpe.after_trial(study, trial, state, values)
