"""Search strategies: the paper's truncated-Gaussian crops, Optuna's own samplers, and ours.

Every strategy is one `@register_sampler` definition (see `registry.py`); these are the built-ins.
"""

from __future__ import annotations

import warnings

import optuna

from autocrop.samplers.paper import PaperSampler
from autocrop.samplers.registry import SAMPLERS, SamplerDef, check_sampler, get_sampler, make_sampler, register_sampler, sampler_names
from autocrop.samplers.rf import ReceptiveFieldSampler, rf_context, roi_proposals, roi_targets
from autocrop.samplers.sparse import sparse_proposals

# TPE's `group` (conditional head hyper-parameters) is stable in practice; keep its notice quiet
warnings.filterwarnings("ignore", message=".*``group`` is an experimental feature.*")

__all__ = ["SAMPLERS", "SamplerDef", "register_sampler", "get_sampler", "check_sampler", "make_sampler", "sampler_names",
           "PaperSampler", "ReceptiveFieldSampler", "roi_targets"]


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10)


@register_sampler("paper", help="Zhou et al.'s random crops: truncated-Gaussian centre and size")
def _paper(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return PaperSampler(seed=seed)


@register_sampler("random", help="Optuna's uniform random sampler")
def _random(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


@register_sampler("tpe", help="Optuna's multivariate TPE with conditional head parameters")
def _tpe_sampler(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return _tpe(seed)


@register_sampler("nsga2", help="Optuna's NSGA-II evolutionary sampler")
def _nsga2(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)


@register_sampler("rf", help="crops around the cells whose receptive fields cover the query region", context=rf_context)
def _rf(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return ReceptiveFieldSampler(ctx.get("targets") or {}, seed=seed)


@register_sampler("sparse", help="group-lasso supports (boxes, cell masks, two layers) first, then TPE", propose=sparse_proposals)
def _sparse(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return _tpe(seed)


def _auto_context(cfg, data, space) -> dict:
    """`rf`'s crop targets when the query has a region (`search.roi` or `labels.region`), else none."""
    return rf_context(cfg, data, space) if _has_region(cfg) else {}


def _has_region(cfg) -> bool:
    return bool(cfg.search.roi or cfg.labels.region)


def _auto_propose(data, space) -> list:
    """The region's cells on each layer (when the query has a region), then group-lasso proposals."""
    return [*(roi_proposals(data, space) if _has_region(data.cfg) else []), *sparse_proposals(data, space)]


@register_sampler("auto", help="the default: when the query has a region, its cells on each layer first; then "
                               "group-lasso proposals; then receptive-field-guided crops (with a region) or TPE",
                  context=_auto_context, propose=_auto_propose)
def _auto(seed: int, ctx: dict) -> optuna.samplers.BaseSampler:
    return ReceptiveFieldSampler(ctx["targets"], seed=seed) if ctx.get("targets") else _tpe(seed)
