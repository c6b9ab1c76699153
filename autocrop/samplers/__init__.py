"""Sampler registry: the paper's truncated-Gaussian crops and Optuna's own samplers by name."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from autocrop.errors import ConfigError
from autocrop.samplers.paper import PaperSampler

__all__ = ["SAMPLERS", "make_sampler", "PaperSampler"]

SamplerFactory = Callable[[int], optuna.samplers.BaseSampler]

SAMPLERS: dict[str, SamplerFactory] = {
    "paper": lambda seed: PaperSampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed, population_size=16),
}


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler `{name}`; choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](seed)
