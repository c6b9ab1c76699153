"""Sampler registry: the paper's truncated-Gaussian crops, Optuna's own samplers, and ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import warnings

import optuna

# TPE's `group` (conditional head hyper-parameters) is stable in practice; keep its notice quiet
warnings.filterwarnings("ignore", message=".*``group`` is an experimental feature.*")

from autocrop.errors import ConfigError
from autocrop.samplers.paper import PaperSampler
from autocrop.samplers.rf import ReceptiveFieldSampler, roi_targets

__all__ = ["SAMPLERS", "check_sampler", "make_sampler", "PaperSampler", "ReceptiveFieldSampler", "roi_targets", "NEEDS_ROI", "PROPOSES"]

SamplerFactory = Callable[[int, dict[str, Any]], optuna.samplers.BaseSampler]

SAMPLERS: dict[str, SamplerFactory] = {
    "paper": lambda seed, ctx: PaperSampler(seed=seed),
    "random": lambda seed, ctx: optuna.samplers.RandomSampler(seed=seed),
    "tpe": lambda seed, ctx: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10),
    "nsga2": lambda seed, ctx: optuna.samplers.NSGAIISampler(seed=seed, population_size=16),
    "rf": lambda seed, ctx: ReceptiveFieldSampler(ctx["targets"], seed=seed),
    # block-sparse: group-lasso proposals are enqueued by the search; TPE samples after them
    "sparse": lambda seed, ctx: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10),
}
NEEDS_ROI = {"rf"}  # built with per-layer crop targets from the query's region of interest
PROPOSES = {"sparse"}  # the search enqueues sparse_proposals() before sampling


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler `{name}`; choose one of: {', '.join(SAMPLERS)}")


def make_sampler(name: str, seed: int, context: dict[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    check_sampler(name)
    if name in NEEDS_ROI and not (context or {}).get("targets"):
        raise ConfigError(f"sampler `{name}` needs a region of interest: set `search.roi` or `labels.region` (pixels)")
    return SAMPLERS[name](seed, context or {})
