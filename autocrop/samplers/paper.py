"""The paper's random crop sampler: truncated-Gaussian crop centres and sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial
from scipy.stats import truncnorm

from autocrop.crops import CENTER_PARAMS, SIZE_PARAMS

__all__ = ["PaperSampler"]


class PaperSampler(BaseSampler):
    """Crop centre ~ N(0.5, 0.2) per axis and crop size ~ N(0, 0.2), each truncated to its range.

    As in Zhou et al.: the truncation range is the search space's (default centre [0.1, 0.9], size
    [0.1, 0.5]); the box is clipped to the frame afterwards. Every other parameter (layer, head,
    hyper-parameters) is drawn uniformly by Optuna's RandomSampler. Same seed, same crops.
    """

    def __init__(self, center: tuple[float, float] = (0.5, 0.2), size: tuple[float, float] = (0.0, 0.2), seed: int | None = None):
        self._center, self._size = center, size
        self._rng = np.random.RandomState(seed)
        self._random = RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        if isinstance(param_distribution, FloatDistribution) and param_name in (*CENTER_PARAMS, *SIZE_PARAMS):
            mean, sd = self._center if param_name in CENTER_PARAMS else self._size
            low, high = param_distribution.low, param_distribution.high
            a, b = (low - mean) / sd, (high - mean) / sd
            return float(np.clip(truncnorm.rvs(a, b, loc=mean, scale=sd, random_state=self._rng), low, high))
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        self._random.after_trial(study, trial, state, values)
